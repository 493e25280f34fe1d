"""Application Auto Scaling types, which moto's CloudFormation skips: scalable targets and scaling policies."""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.resource import ResourceType


def _backend(account_id: str, region: str) -> Any:
    return applicationautoscaling_backends[account_id][region]


class ScalableTarget(ResourceType, CloudFormationModel):
    """Ref is `<resource id>|<dimension>|<namespace>`, as CloudFormation's own physical id for targets."""

    TYPE = "AWS::ApplicationAutoScaling::ScalableTarget"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> ScalableTarget:
        made = cls(f"{properties['ResourceId']}|{properties['ScalableDimension']}|{properties['ServiceNamespace']}",
                   account_id, region, properties)
        made._register(properties)
        return made

    def _register(self, p: dict[str, Any]) -> None:
        _backend(self.account_id, self.region).register_scalable_target(
            p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"], int(p["MinCapacity"]),
            int(p["MaxCapacity"]), p.get("RoleARN", ""), p.get("SuspendedState"))

    def update(self, name: str, properties: dict[str, Any]) -> ScalableTarget:
        self._register(properties)
        self.properties = properties
        return self

    def remove(self) -> None:
        p = self.properties
        backend = _backend(self.account_id, self.region)
        if p["ResourceId"] in backend.targets.get(p["ScalableDimension"], {}):
            backend.deregister_scalable_target(p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"])


class ScalingPolicy(ResourceType, CloudFormationModel):
    TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> ScalingPolicy:
        target = cls._target(properties)
        policy = _backend(account_id, region).put_scaling_policy(
            properties.get("PolicyName", name), target["ServiceNamespace"], target["ResourceId"],
            target["ScalableDimension"],
            properties.get("TargetTrackingScalingPolicyConfiguration") or properties.get(
                "StepScalingPolicyConfiguration") or {}, properties.get("PolicyType"))
        return cls(policy.policy_arn, account_id, region, properties,
                   {"Arn": policy.policy_arn, "PolicyName": policy.policy_name, **target})

    @staticmethod
    def _target(properties: dict[str, Any]) -> dict[str, str]:
        if properties.get("ScalingTargetId"):
            resource_id, dimension, namespace = str(properties["ScalingTargetId"]).split("|")
            return {"ResourceId": resource_id, "ScalableDimension": dimension, "ServiceNamespace": namespace}
        return {k: properties[k] for k in ("ResourceId", "ScalableDimension", "ServiceNamespace")}

    def remove(self) -> None:
        p = self.attributes
        backend = _backend(self.account_id, self.region)
        try:
            backend.delete_scaling_policy(p["PolicyName"], p["ServiceNamespace"], p["ResourceId"],
                                          p["ScalableDimension"])
        except Exception as e:  # already gone with its target
            if "No scaling policy found" not in str(e):
                raise
