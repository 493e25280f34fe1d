"""CloudFormation's API layer: moto's, calling our backend for stack and change-set operations.

Templates are read from any S3 URL form (`templates`); the resource listings report each
resource's own status, as the engine records it, instead of the stack's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.s3.exceptions import S3ClientError
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from localcloud.cloudformation.templates import TemplateUrlError, bucket_and_key

if TYPE_CHECKING:  # backend -> urls -> this module: a runtime import would be circular
    from localcloud.cloudformation.backend import LocalCloudFormationBackend


def read_template(url: str, account_id: str, region: str) -> str:
    """The template text a TemplateURL points at, or CloudFormation's ValidationError."""
    try:
        bucket, key = bucket_and_key(url)
        found = s3_backends[account_id][get_partition(region)].get_object(bucket, key)
    except TemplateUrlError as e:
        raise ValidationError(message=str(e)) from None
    except S3ClientError as e:
        raise ValidationError(message=f"S3 error: {e.message}") from None
    if found is None:
        raise ValidationError(message="S3 error: The specified key does not exist.")
    try:
        return found.value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(message="Template format error: the template is not UTF-8 text") from None


class LocalCloudFormationResponse(CloudFormationResponse):
    @property
    def cloudformation_backend(self) -> LocalCloudFormationBackend:
        """moto's lookup, which finds our backend: extensions.py installs it for CloudFormation."""
        return cast("LocalCloudFormationBackend", super().cloudformation_backend)

    def _get_stack_from_s3_url(self, template_url: str) -> str:
        return read_template(template_url, self.current_account, self.region)

    def _template_text(self, previous: Any = None) -> str:
        body, url = self._get_param("TemplateBody"), self._get_param("TemplateURL")
        if self._get_bool_param("UsePreviousTemplate", False):
            if body or url:
                raise ValidationError(message="An error occurred: either TemplateBody or TemplateURL may be given, or "
                                              "UsePreviousTemplate, not both")
            if previous is None:
                raise ValidationError(message="UsePreviousTemplate can only be used on an existing stack")
            return str(previous.template)
        if body and url:
            raise ValidationError(message="Specify exactly one of TemplateBody or TemplateURL")
        if url:
            return self._get_stack_from_s3_url(url)
        if not body:
            raise ValidationError(message="Either Template URL or Template Body must be specified.")
        return str(body)

    def _tags(self) -> dict[str, str] | None:
        given = self._get_param("Tags", [])
        return {item["Key"]: item["Value"] for item in given} if given else None

    def create_stack(self) -> ActionResult:
        stack = self.cloudformation_backend.create_stack(
            name=self._get_param("StackName"), template=self._template_text(),
            parameters={p["ParameterKey"]: p.get("ParameterValue") for p in self._get_param("Parameters", [])},
            notification_arns=self._get_param("NotificationARNs", []), tags=self._tags(),
            role_arn=self._get_param("RoleARN"))
        return ActionResult({"StackId": stack.stack_id})

    def update_stack(self) -> ActionResult:
        backend = self.cloudformation_backend
        name = self._get_param("StackName")
        stack = backend._live_stack(name)
        stack = backend.update_stack_request(name, self._template_text(stack), self._get_param("Parameters", []),
                                             self._get_param("RoleARN"), self._tags())
        return ActionResult({"StackId": stack.stack_id})

    def create_change_set(self) -> ActionResult:
        backend = self.cloudformation_backend
        name = self._get_param("StackName")
        change_set_id, stack_id = backend.create_change_set(
            stack_name=name, change_set_name=self._get_param("ChangeSetName"),
            template=self._template_text(backend._live_stack(name)), parameters=self._get_param("Parameters", []),
            description=self._get_param("Description"), change_set_type=self._get_param("ChangeSetType", "UPDATE"),
            notification_arns=self._get_param("NotificationARNs", []), tags=self._tags(),
            role_arn=self._get_param("RoleARN"))
        return ActionResult({"Id": change_set_id, "StackId": stack_id})

    def describe_change_set(self) -> ActionResult:
        return ActionResult(self.cloudformation_backend.describe_change_set(self._get_param("ChangeSetName"),
                                                                            self._get_param("StackName")))

    def delete_change_set(self) -> ActionResult:
        self.cloudformation_backend.delete_change_set(self._get_param("ChangeSetName"), self._get_param("StackName"))
        return EmptyResult()

    def execute_change_set(self) -> ActionResult:
        self.cloudformation_backend.execute_change_set(self._get_param("ChangeSetName"), self._get_param("StackName"))
        return EmptyResult()

    def list_change_sets(self) -> ActionResult:
        return ActionResult({"Summaries": self.cloudformation_backend.list_change_sets_of(
            self._get_param("StackName"))})

    def _states(self) -> tuple[Any, list[Any]]:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        return stack, list(getattr(stack, "resource_states", {}).values())

    def list_stack_resources(self) -> ActionResult:
        _, states = self._states()
        return ActionResult({"StackResourceSummaries": [
            {"LogicalResourceId": s.logical_id, "PhysicalResourceId": s.physical_id or "", "ResourceType":
             s.resource_type, "LastUpdatedTimestamp": s.timestamp, "ResourceStatus": s.status,
             "ResourceStatusReason": s.reason} for s in states if s.status != "DELETE_COMPLETE"]})

    def describe_stack_resources(self) -> ActionResult:
        stack, states = self._states()
        wanted = self._get_param("LogicalResourceId")
        return ActionResult({"StackResources": [
            self._row(stack, s) for s in states
            if s.status != "DELETE_COMPLETE" and (wanted is None or s.logical_id == wanted)]})

    def describe_stack_resource(self) -> ActionResult:
        stack, states = self._states()
        wanted = self._get_param("LogicalResourceId")
        for state in states:
            if state.logical_id == wanted and state.status != "DELETE_COMPLETE":
                return ActionResult({"StackResourceDetail": {**self._row(stack, state),
                                                             "LastUpdatedTimestamp": state.timestamp}})
        raise ValidationError(message=f"Resource {wanted} does not exist for stack {stack.name}")

    @staticmethod
    def _row(stack: Any, state: Any) -> dict[str, Any]:
        return {"StackName": stack.name, "StackId": stack.stack_id, "LogicalResourceId": state.logical_id,
                "PhysicalResourceId": state.physical_id or "", "ResourceType": state.resource_type,
                "Timestamp": state.timestamp, "ResourceStatus": state.status, "ResourceStatusReason": state.reason}
