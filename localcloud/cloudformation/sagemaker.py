"""SageMaker resource types: the ones moto's CloudFormation skips, and endpoints that really serve.

- AWS::SageMaker::Pipeline and AWS::SageMaker::ModelPackageGroup: moto skips them.
- AWS::SageMaker::Model and AWS::SageMaker::EndpointConfig: moto's replace an in-use resource by
  deleting it first; here a change makes a new one (under a new name) and the old one is deleted
  only after the endpoint has moved on, as on AWS.
- AWS::SageMaker::Endpoint: moto's ignores `EndpointName` and calls an endpoint complete while it
  is still Creating. Here it takes its name from the template, waits until the endpoint is
  InService (or fails with the endpoint's own FailureReason), and updates in place with
  UpdateEndpoint and the template's `DeploymentConfig` (canary, linear or all at once, rollback
  alarms); an update that rolled back fails the resource, so the stack rolls back too.
- AWS::SageMaker::DataQualityJobDefinition, ModelQualityJobDefinition and MonitoringSchedule: moto
  skips them; here they are the job definitions and schedules `localcloud.sagemaker.monitoring` runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sagemaker.models import sagemaker_backends

from localcloud.cloudformation.resource import ResourceFailed, ResourceType
from localcloud.sagemaker.work import moto_arguments

ENDPOINT_TIMEOUT = float(os.environ.get("LOCALCLOUD_CFN_ENDPOINT_TIMEOUT", "1800"))
"""Seconds CloudFormation waits for an endpoint to be InService (AWS allows hours; localcloud needs seconds)."""
NAME_LIMIT = 63


def _fit(name: str) -> str:
    """A generated `<stack>-<logical id>-<suffix>` name cut to SageMaker's 63 characters (the suffix kept)."""
    if len(name) <= NAME_LIMIT:
        return name
    head, _, suffix = name.rpartition("-")
    return f"{head[: NAME_LIMIT - len(suffix) - 1].rstrip('-')}-{suffix}"


def _backend(account_id: str, region: str) -> Any:
    return sagemaker_backends[account_id][region]


class ModelPackageGroup(ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::ModelPackageGroup"
    NAME_PROPERTY = "ModelPackageGroupName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> ModelPackageGroup:
        name = _fit(name)
        backend = _backend(account_id, region)
        arn = backend.create_model_package_group(name, properties.get("ModelPackageGroupDescription", ""),
                                                 properties.get("Tags") or [])
        group = backend.model_package_groups[name]
        return cls(arn, account_id, region, properties, {
            "ModelPackageGroupArn": arn, "ModelPackageGroupName": name, "ModelPackageGroupStatus": "Completed",
            "CreationTime": str(group.creation_time)})

    def update(self, name: str, properties: dict[str, Any]) -> ModelPackageGroup:
        self.properties = properties
        return self

    def remove(self) -> None:
        _backend(self.account_id, self.region).delete_model_package_group(self.attributes["ModelPackageGroupName"])


def _definition(properties: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """PipelineDefinition as CreatePipeline takes it: a body, or an S3 location (CFN's Key is the API's ObjectKey)."""
    definition = properties.get("PipelineDefinition") or {}
    body = definition.get("PipelineDefinitionBody")
    location = definition.get("PipelineDefinitionS3Location")
    if body is None and location is None:
        raise ResourceFailed("PipelineDefinition needs PipelineDefinitionBody or PipelineDefinitionS3Location")
    if location is not None:
        location = {"Bucket": location["Bucket"], "ObjectKey": location["Key"],
                    **({"VersionId": location["Version"]} if location.get("Version") else {})}
    return body, location


class Pipeline(ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::Pipeline"
    NAME_PROPERTY = "PipelineName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Pipeline:
        body, location = _definition(properties)
        pipeline = _backend(account_id, region).create_pipeline(
            _fit(name), properties.get("PipelineDisplayName") or _fit(name), body, location,
            properties.get("PipelineDescription", ""), properties["RoleArn"], properties.get("Tags") or [],
            properties.get("ParallelismConfiguration"))
        return cls(pipeline.pipeline_name, account_id, region, properties, {"PipelineArn": pipeline.arn})

    def update(self, name: str, properties: dict[str, Any]) -> Pipeline:
        body, location = _definition(properties)
        _backend(self.account_id, self.region).update_pipeline(
            self.physical_id, pipeline_display_name=properties.get("PipelineDisplayName"),
            pipeline_definition=body, pipeline_definition_s3_location=location,
            pipeline_description=properties.get("PipelineDescription"), role_arn=properties["RoleArn"],
            parallelism_configuration=properties.get("ParallelismConfiguration"))
        self.properties = properties
        return self

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.physical_id in backend.pipelines:
            backend.delete_pipeline(self.physical_id)


class Model(ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::Model"
    NAME_PROPERTY = "ModelName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Model:
        name = _fit(name)
        model = _backend(account_id, region).create_model(
            name, properties.get("ExecutionRoleArn"), properties.get("PrimaryContainer"),
            properties.get("VpcConfig"), properties.get("Containers"), properties.get("Tags") or [])
        return cls(model.arn, account_id, region, properties, {"ModelName": name, "Id": model.arn})

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.attributes["ModelName"] in backend._models:
            backend.delete_model(self.attributes["ModelName"])


class EndpointConfig(ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::EndpointConfig"
    NAME_PROPERTY = "EndpointConfigName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> EndpointConfig:
        name = _fit(name)
        config = _backend(account_id, region).create_endpoint_config(
            name, properties["ProductionVariants"], properties.get("DataCaptureConfig") or {},
            properties.get("AsyncInferenceConfig") or {}, properties.get("Tags") or [], properties.get("KmsKeyId"))
        return cls(config.endpoint_config_arn, account_id, region, properties,
                   {"EndpointConfigName": name, "Id": config.endpoint_config_arn})

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.attributes["EndpointConfigName"] in backend.endpoint_configs:
            backend.delete_endpoint_config(self.attributes["EndpointConfigName"])


class Endpoint(ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::Endpoint"
    NAME_PROPERTY = "EndpointName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Endpoint:
        name = _fit(name)
        backend = _backend(account_id, region)
        endpoint = backend.create_endpoint(name, properties["EndpointConfigName"], properties.get("Tags") or [])
        made = cls(endpoint.arn, account_id, region, properties, {"EndpointName": name, "Id": endpoint.arn})
        made._wait(properties["EndpointConfigName"])
        return made

    def _wait(self, config_name: str) -> None:
        """Until the endpoint serves `config_name` and is InService; ResourceFailed with its reason otherwise."""
        name = self.attributes["EndpointName"]
        deadline = time.monotonic() + ENDPOINT_TIMEOUT
        while time.monotonic() < deadline:
            endpoint = _backend(self.account_id, self.region).endpoints.get(name)
            if endpoint is None:
                raise ResourceFailed(f"Endpoint {name} was deleted while CloudFormation waited for it")
            status = endpoint.endpoint_status
            if status == "Failed":
                raise ResourceFailed(f"Endpoint {name} failed: {endpoint.failure_reason}")
            if status == "InService":
                if endpoint.endpoint_config_name == config_name:
                    return
                raise ResourceFailed(f"Endpoint {name} could not be updated to {config_name}: "
                                     f"{endpoint.failure_reason or 'the update did not complete'}")
            time.sleep(0.1)
        raise ResourceFailed(f"Endpoint {name} was not InService within {ENDPOINT_TIMEOUT:.0f} s")

    def update(self, name: str, properties: dict[str, Any]) -> Endpoint:
        """A new config: blue/green with the template's DeploymentConfig (canary, linear, rollback alarms)."""
        config_name = properties["EndpointConfigName"]
        current = _backend(self.account_id, self.region).endpoints.get(self.attributes["EndpointName"])
        if current is not None and current.endpoint_status == "InService" and \
                current.endpoint_config_name == config_name:
            # already serving it: a stack rolling back after SageMaker rolled the endpoint back itself
            self.properties = properties
            return self
        try:
            _backend(self.account_id, self.region).update_endpoint(
                self.attributes["EndpointName"], config_name, properties.get("DeploymentConfig"),
                str(properties.get("RetainDeploymentConfig", False)).lower() == "true")
        except Exception as e:  # the API's own refusal (a DeploymentConfig SageMaker would not accept)
            raise ResourceFailed(f"{getattr(e, 'message', None) or e}") from None
        self._wait(config_name)
        self.properties = properties
        return self

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.attributes["EndpointName"] in backend.endpoints:
            backend.delete_endpoint(self.attributes["EndpointName"])


class _JobDefinition:
    """What Model Monitor's job definition types share (every property is create-only: a change replaces one).

    The template's properties are the Create call's members, so moto's create method takes them
    as they are (`moto_arguments`); `KIND` names the method and the table. A mixin, not a
    ResourceType: resource types are found as ResourceType's (and moto's CloudFormationModel's)
    direct subclasses.
    """

    KIND: str = ""
    physical_id: str
    account_id: str
    region: str
    attributes: dict[str, Any]

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        name = _fit(name)
        backend = _backend(account_id, region)
        create = getattr(backend, f"create_{cls.KIND}_job_definition")
        arguments = moto_arguments(create, {**properties, "JobDefinitionName": name, "AccountId": account_id})
        arguments["tags"] = arguments.get("tags") or []
        created = create(**arguments)
        arn = created["JobDefinitionArn"] if isinstance(created, dict) else str(created)
        return cls(arn, account_id, region, properties,  # type: ignore[call-arg]
                   {"JobDefinitionArn": arn, "JobDefinitionName": name})

    def remove(self) -> None:
        backend = _backend(self.account_id, self.region)
        if self.attributes["JobDefinitionName"] in getattr(backend, f"{self.KIND}_job_definitions"):
            getattr(backend, f"delete_{self.KIND}_job_definition")(self.attributes["JobDefinitionName"])


class DataQualityJobDefinition(_JobDefinition, ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::DataQualityJobDefinition"
    NAME_PROPERTY = "JobDefinitionName"
    KIND = "data_quality"


class ModelQualityJobDefinition(_JobDefinition, ResourceType, CloudFormationModel):
    TYPE = "AWS::SageMaker::ModelQualityJobDefinition"
    NAME_PROPERTY = "JobDefinitionName"
    KIND = "model_quality"


class MonitoringSchedule(ResourceType, CloudFormationModel):
    """A monitoring schedule; a changed MonitoringScheduleConfig updates it in place."""

    TYPE = "AWS::SageMaker::MonitoringSchedule"
    NAME_PROPERTY = "MonitoringScheduleName"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> MonitoringSchedule:
        name = _fit(name)
        try:
            arn = _backend(account_id, region).monitoring.create(name, properties["MonitoringScheduleConfig"])
        except Exception as e:  # the API's own error says what is wrong with the config
            raise ResourceFailed(f"{getattr(e, 'message', None) or e}") from None
        return cls(arn, account_id, region, properties, {"MonitoringScheduleArn": arn,
                                                          "MonitoringScheduleName": name})

    def update(self, name: str, properties: dict[str, Any]) -> MonitoringSchedule:
        try:
            _backend(self.account_id, self.region).monitoring.update(self.attributes["MonitoringScheduleName"],
                                                                     properties["MonitoringScheduleConfig"])
        except Exception as e:
            raise ResourceFailed(f"{getattr(e, 'message', None) or e}") from None
        self.properties = properties
        return self

    def remove(self) -> None:
        monitoring = _backend(self.account_id, self.region).monitoring
        if self.attributes["MonitoringScheduleName"] in monitoring.schedules:
            monitoring.delete(self.attributes["MonitoringScheduleName"])
