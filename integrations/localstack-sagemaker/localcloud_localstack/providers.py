"""CloudFormation resource providers for SageMaker types, run by LocalStack, creating the resources in localcloud.

One generic provider, driven by a table of what differs between the types (the name property,
the identifier CloudFormation's Ref returns, which properties force a replacement, whether an
endpoint must be waited for). Each call goes to the SageMaker API at AWS_ENDPOINT_URL_SAGEMAKER
in LocalStack's environment, signed with the stack's account as access key (localcloud and
LocalStack then agree on the account). A template's properties become the API request by the
API's own model: the members the Create operation takes are passed, the others (a tag policy,
properties only CloudFormation knows) are left out. Failures come back as CloudFormation
resource failures with SageMaker's message.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from localstack.services.cloudformation.resource_provider import (
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SAGEMAKER"
ENDPOINT_TIMEOUT = float(os.environ.get("LOCALCLOUD_LOCALSTACK_ENDPOINT_TIMEOUT", "300"))


@dataclass(frozen=True)
class Kind:
    type: str
    noun: str
    """The API's noun: CreateModel -> Model."""
    name: str
    """The property (and request member) that names the resource."""
    identifier: str
    """The property CloudFormation's Ref returns (the registry schema's primaryIdentifier)."""
    arn: str
    """The member of the Create answer that holds the ARN."""
    create_only: tuple[str, ...]
    """Properties whose change replaces the resource (the registry schema's createOnlyProperties)."""
    limit: int = 63


KINDS = {k.type: k for k in (
    Kind("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroup", "ModelPackageGroupName", "ModelPackageGroupArn",
         "ModelPackageGroupArn", ("ModelPackageGroupName", "ModelPackageGroupDescription")),
    Kind("AWS::SageMaker::Pipeline", "Pipeline", "PipelineName", "PipelineName", "PipelineArn", ("PipelineName",),
         limit=256),
    Kind("AWS::SageMaker::Model", "Model", "ModelName", "ModelArn", "ModelArn",
         ("ExecutionRoleArn", "EnableNetworkIsolation", "InferenceExecutionConfig", "PrimaryContainer", "ModelName",
          "VpcConfig", "Containers")),
    Kind("AWS::SageMaker::EndpointConfig", "EndpointConfig", "EndpointConfigName", "EndpointConfigArn",
         "EndpointConfigArn",
         ("KmsKeyId", "AsyncInferenceConfig", "ExecutionRoleArn", "ShadowProductionVariants", "EnableNetworkIsolation",
          "ProductionVariants", "DataCaptureConfig", "ExplainerConfig", "MetricsConfig", "EndpointConfigName",
          "VpcConfig")),
    Kind("AWS::SageMaker::Endpoint", "Endpoint", "EndpointName", "EndpointArn", "EndpointArn", ("EndpointName",)),
    Kind("AWS::SageMaker::DataQualityJobDefinition", "DataQualityJobDefinition", "JobDefinitionName",
         "JobDefinitionArn", "JobDefinitionArn",
         ("JobDefinitionName", "DataQualityAppSpecification", "DataQualityBaselineConfig", "DataQualityJobInput",
          "DataQualityJobOutputConfig", "JobResources", "NetworkConfig", "RoleArn", "StoppingCondition", "Tags",
          "EndpointName")),
    Kind("AWS::SageMaker::ModelQualityJobDefinition", "ModelQualityJobDefinition", "JobDefinitionName",
         "JobDefinitionArn", "JobDefinitionArn",
         ("JobDefinitionName", "ModelQualityAppSpecification", "ModelQualityBaselineConfig", "ModelQualityJobInput",
          "ModelQualityJobOutputConfig", "JobResources", "NetworkConfig", "RoleArn", "StoppingCondition", "Tags",
          "EndpointName")),
    Kind("AWS::SageMaker::MonitoringSchedule", "MonitoringSchedule", "MonitoringScheduleName",
         "MonitoringScheduleArn", "MonitoringScheduleArn", ("MonitoringScheduleName",)),
)}


class BridgeError(Exception):
    """A resource cannot be provisioned; the message is its status reason."""


def _snake(noun: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", noun).lower()


def _client(request: ResourceRequest[Any]) -> Any:
    url = os.environ.get(ENDPOINT_VARIABLE)
    if not url:
        raise BridgeError(f"{ENDPOINT_VARIABLE} is not set in LocalStack's environment: set it to the URL of "
                          f"localcloud running with --backplane (it serves SageMaker for LocalStack)")
    return boto3.client("sagemaker", endpoint_url=url, region_name=request.region_name,
                        aws_access_key_id=request.account_id, aws_secret_access_key="localcloud",
                        config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def _generated_name(request: ResourceRequest[Any], limit: int) -> str:
    """CloudFormation's pattern for an unnamed resource: stack-logical-suffix, within the name's limit."""
    suffix = uuid.uuid4().hex[:12]
    stem = re.sub(r"[^a-zA-Z0-9-]", "-", f"{request.stack_name}-{request.logical_resource_id}")[:limit - 13]
    return f"{stem.strip('-')}-{suffix}"


def _request(client: Any, operation: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The API request made of the properties the operation takes (by the API's model)."""
    members = client.meta.service_model.operation_model(operation).input_shape.members
    return {key: value for key, value in properties.items() if key in members}


class SageMakerProvider(ResourceProvider[dict]):
    """CloudFormation's create/update/delete of one SageMaker resource type, through the SageMaker API."""

    KIND: Kind
    SCHEMA: dict

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._guarded(request, self._create)

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._guarded(request, self._update)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return self._guarded(request, self._delete)

    def read(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return ProgressEvent(OperationStatus.SUCCESS, resource_model=request.desired_state)

    def _guarded(self, request: ResourceRequest[dict], action: Any) -> ProgressEvent[dict]:
        try:
            model = action(request, _client(request))
        except BridgeError as e:
            return ProgressEvent(OperationStatus.FAILED, resource_model={}, message=str(e))
        except ClientError as e:
            error = e.response.get("Error", {})
            return ProgressEvent(OperationStatus.FAILED, resource_model={},
                                 message=f"{error.get('Code', 'Error')}: {error.get('Message', '')}")
        return ProgressEvent(OperationStatus.SUCCESS, resource_model=model)

    # ------------------------------------------------------------------ create
    def _create(self, request: ResourceRequest[dict], sm: Any) -> dict:
        kind = self.KIND
        model = dict(request.desired_state)
        model.setdefault(kind.name, _generated_name(request, kind.limit))
        operation = f"Create{kind.noun}"
        arguments = _request(sm, operation, self._api_properties(model))
        answer = getattr(sm, f"create_{_snake(kind.noun)}")(**arguments)
        model[kind.arn] = answer.get(kind.arn) or answer.get("Arn") or ""
        if kind.noun == "Endpoint":
            self._wait_in_service(sm, model[kind.name])
        return model

    def _api_properties(self, model: dict) -> dict:
        """Where CloudFormation's shape differs from the API's (only the pipeline's definition does)."""
        if self.KIND.noun != "Pipeline":
            return model
        properties = {k: v for k, v in model.items() if k != "PipelineDefinition"}
        definition = model.get("PipelineDefinition") or {}
        if "PipelineDefinitionBody" in definition:
            properties["PipelineDefinition"] = definition["PipelineDefinitionBody"]
        elif "PipelineDefinitionS3Location" in definition:
            location = definition["PipelineDefinitionS3Location"]
            properties["PipelineDefinitionS3Location"] = {
                "BucketName": location["Bucket"], "ObjectKey": location["Key"],
                **({"VersionId": location["Version"]} if location.get("Version") else {})}
        return properties

    # ------------------------------------------------------------------ update
    def _update(self, request: ResourceRequest[dict], sm: Any) -> dict:
        kind = self.KIND
        previous = request.previous_state or {}
        model = dict(request.desired_state)
        model[kind.name] = previous.get(kind.name) or model.get(kind.name)
        model[kind.arn] = previous.get(kind.arn, "")
        name = model[kind.name]
        if kind.noun == "Endpoint":
            sm.update_endpoint(EndpointName=name, EndpointConfigName=model["EndpointConfigName"])
            self._wait_in_service(sm, name)
        elif kind.noun == "Pipeline":
            sm.update_pipeline(**_request(sm, "UpdatePipeline", self._api_properties(model)))
        elif kind.noun == "MonitoringSchedule":
            sm.update_monitoring_schedule(MonitoringScheduleName=name,
                                          MonitoringScheduleConfig=model["MonitoringScheduleConfig"])
        # other types change only through replacement (their properties are create-only) or tags
        return model

    # ------------------------------------------------------------------ delete
    def _delete(self, request: ResourceRequest[dict], sm: Any) -> dict:
        kind = self.KIND
        model = dict(request.desired_state)
        name = model.get(kind.name)
        if not name:
            return model
        try:
            getattr(sm, f"delete_{_snake(kind.noun)}")(**{kind.name: name})
        except ClientError as e:
            if not _missing(e):
                raise
            return model
        if kind.noun == "Endpoint":
            self._wait_gone(sm, name)
        return model

    # ------------------------------------------------------------------ endpoints
    @staticmethod
    def _wait_in_service(sm: Any, name: str) -> None:
        deadline = time.monotonic() + ENDPOINT_TIMEOUT
        while time.monotonic() < deadline:
            described = sm.describe_endpoint(EndpointName=name)
            status = described["EndpointStatus"]
            if status == "InService":
                return
            if status == "Failed":
                raise BridgeError(f"endpoint {name} failed: {described.get('FailureReason', 'no reason given')}")
            time.sleep(0.5)
        raise BridgeError(f"endpoint {name} was not InService within {ENDPOINT_TIMEOUT:.0f} s")

    @staticmethod
    def _wait_gone(sm: Any, name: str) -> None:
        deadline = time.monotonic() + ENDPOINT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                sm.describe_endpoint(EndpointName=name)
            except ClientError as e:
                if _missing(e):
                    return
                raise
            time.sleep(0.5)
        raise BridgeError(f"endpoint {name} was not deleted within {ENDPOINT_TIMEOUT:.0f} s")


def _missing(error: ClientError) -> bool:
    detail = error.response.get("Error", {})
    return detail.get("Code") in ("ResourceNotFound", "ValidationException") and (
        "not" in str(detail.get("Message", "")).lower())


def provider(kind: Kind) -> type[SageMakerProvider]:
    """The provider class of one type, with the schema LocalStack reads Ref and replacement from."""
    return type(f"{kind.noun}Provider", (SageMakerProvider,), {
        "KIND": kind, "TYPE": kind.type,
        "SCHEMA": {"typeName": kind.type, "primaryIdentifier": [f"/properties/{kind.identifier}"],
                   "createOnlyProperties": [f"/properties/{p}" for p in kind.create_only],
                   "readOnlyProperties": [f"/properties/{kind.arn}"], "properties": {}}})
