"""AWS::IAM::Role as CloudFormation manages it, managed policies and updates included.

moto's own type ignores `ManagedPolicyArns` and, on update, every property but the description.
This one creates the role through moto's IAM backend with its inline and managed policies, and
updates the trust policy, inline policies, managed policies, description and session duration in
place (a new `RoleName` or `Path` means a new role, as on AWS).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from localcloud.cloudformation.resource import ResourceType


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class Role(ResourceType, CloudFormationModel):
    TYPE = "AWS::IAM::Role"
    NAME_PROPERTY = "RoleName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Role:
        backend = iam_backends[account_id][get_partition(region)]
        role = backend.create_role(
            role_name=name[:64], assume_role_policy_document=_text(properties["AssumeRolePolicyDocument"]),
            path=properties.get("Path", "/"), permissions_boundary=properties.get("PermissionsBoundary", ""),
            description=properties.get("Description", ""), tags=properties.get("Tags", []),
            # moto annotates this `str | None`, but its own API handler passes the int it parsed
            max_session_duration=int(properties.get("MaxSessionDuration", 3600)))  # type: ignore[arg-type]
        made = cls(role.name, account_id, region, properties, {"Arn": role.arn, "RoleId": role.id})
        made._sync_policies({}, properties)
        return made

    @property
    def _backend(self) -> Any:
        return iam_backends[self.account_id][get_partition(self.region)]

    def _sync_policies(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        backend, name = self._backend, self.physical_id
        old_inline = {p["PolicyName"]: p for p in old.get("Policies", [])}
        new_inline = {p["PolicyName"]: p for p in new.get("Policies", [])}
        for policy_name in old_inline.keys() - new_inline.keys():
            backend.delete_role_policy(name, policy_name)
        for policy_name, policy in new_inline.items():
            backend.put_role_policy(name, policy_name, _text(policy["PolicyDocument"]))
        old_managed, new_managed = set(old.get("ManagedPolicyArns", [])), set(new.get("ManagedPolicyArns", []))
        for arn in old_managed - new_managed:
            backend.detach_role_policy(arn, name)
        for arn in sorted(new_managed - old_managed):
            backend.attach_role_policy(arn, name)

    def update(self, name: str, properties: dict[str, Any]) -> Role:
        old = self.properties
        backend = self._backend
        if properties["AssumeRolePolicyDocument"] != old["AssumeRolePolicyDocument"]:
            backend.update_assume_role_policy(self.physical_id, _text(properties["AssumeRolePolicyDocument"]))
        backend.update_role(self.physical_id, properties.get("Description", ""),
                            int(properties.get("MaxSessionDuration", 3600)))
        self._sync_policies(old, properties)
        self.properties = properties
        return self

    def remove(self) -> None:
        backend, name = self._backend, self.physical_id
        role = backend.roles.get(self.attributes["RoleId"])
        if role is None:
            return
        for arn in list(role.managed_policies):
            backend.detach_role_policy(arn, name)
        for policy_name in list(role.policies):
            backend.delete_role_policy(name, policy_name)
        for policy in backend.inline_policies.values():  # AWS::IAM::Policy resources still naming it
            policy.role_names = [n for n in policy.role_names if n != name]
        for profile in backend.instance_profiles.values():
            profile.delete_role(role_name=name)
        backend.delete_role(name)
