"""Our CloudFormation backend: stacks and change sets as AWS runs them, on moto's template engine.

Where we differ from moto (whose stack operations are synchronous, never roll back, and look
change sets up by name across all stacks):

- CreateStack, UpdateStack, DeleteStack and ExecuteChangeSet start the operation and return (once
  it ended, when that takes under SETTLE_SECONDS); `engine.Runner` carries it out on its own
  thread, resource by resource, with events, and rolls back on failure, as the CDK CLI expects to
  watch it do;
- change sets belong to a stack (the CDK CLI names every one `cdk-deploy-change-set`), a missing
  one is `ChangeSetNotFound` (moto's "stack does not exist" made the CLI wait forever), one with
  nothing to change is FAILED with AWS's reason, and one whose template cannot be deployed
  (syntax, unsupported resource types) is FAILED saying why;
- parameter values that break their constraints, and template rules that fail, are refused by
  the call itself (preflight.py); deleting a change set by name succeeds whenever the stack
  exists, as the CDK CLI expects before every deploy;
- `UsePreviousValue` reuses the parameter value as given, not as resolved (the CDK's
  BootstrapVersion is an SSM parameter *name*), and exports appear when a stack completes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import yaml
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.cloudformation.models import Change, ChangeSet, CloudFormationBackend
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, yaml_tag_constructor
from moto.ssm.models import ssm_backends

from localcloud.cloudformation import preflight, urls
from localcloud.cloudformation.engine import IN_PROGRESS, Runner, Stack, new_resource_map, plan, unsupported_types
from localcloud.engine import RESTART_REASON, Engine, Work

log = logging.getLogger("localcloud.cloudformation")

SETTLE_SECONDS = 3.0
"""How long a call that starts a stack operation waits for it to end before answering (see `_run`)."""

NO_CHANGES = ("The submitted information didn't contain changes. Submit different information to create a "
              "change set.")


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"


class _TemplateLoader(yaml.SafeLoader):
    """YAML's safe loader, plus CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, ...)."""


_TemplateLoader.add_multi_constructor("!", yaml_tag_constructor)


def parse_template(text: str) -> dict[str, Any]:
    """A template's JSON or YAML (CloudFormation's short-form tags included); ValidationError if neither.

    Never YAML's full loader: a template is data, and that loader can build Python objects.
    """
    try:
        loaded = json.loads(text)
    except ValueError:
        try:
            loaded = yaml.load(text, Loader=_TemplateLoader)
        except yaml.YAMLError as e:
            raise ValidationError(message=f"Template format error: {str(e).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise ValidationError(message="Template format error: the template must be a JSON or YAML object")
    if not isinstance(loaded.get("Resources"), dict) or not loaded["Resources"]:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    return loaded


class StackOperation(Work):
    """One create, update or delete of a stack: the runner carries it out, `after` follows it."""

    def __init__(self, stack: Stack, runner: Runner, work: Callable[[Runner], Any], after: Callable[[], None] | None):
        self.stack, self.runner, self.work, self.after = stack, runner, work, after
        self.key = stack.stack_id

    def run(self, stop: threading.Event) -> None:
        with self.stack.lock:
            try:
                self.work(self.runner)  # the runner turns what resources raise into events and rollbacks
            finally:
                if self.after is not None:
                    self.after()

    def crashed(self, reason: str) -> None:
        self.stack.set_status(f"{self.stack.status.split('_')[0]}_FAILED", reason)


_INTERRUPTED = {
    "CREATE_IN_PROGRESS": "CREATE_FAILED", "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED", "UPDATE_IN_PROGRESS": "UPDATE_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE", "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE"}
"""Where an operation under way at a restart leaves its stack (cleanups had already succeeded)."""


class LocalCloudFormationBackend(CloudFormationBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.engine = Engine(f"cloudformation-{region_name}")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["engine"]  # threads of this process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.engine = Engine(f"cloudformation-{self.region_name}")

    def reset(self) -> None:
        self.engine.stop_all()
        super().reset()

    def restored(self) -> None:
        """After a restart: an operation that was under way cannot resume; its stack says so."""
        stacks: list[Any] = list(self.stacks.values())  # ours (engine.Stack), though moto types them its own
        for stack in stacks:
            if stack.status in IN_PROGRESS:
                stack.set_status(_INTERRUPTED[stack.status], RESTART_REASON)

    @property
    def _url_module(self) -> Any:
        return urls

    # ---------------------------------------------------------------------------------------- helpers
    def _new_stack(self, name: str, parameters: dict[str, Any], tags: dict[str, str] | None,
                   notification_arns: list[str] | None, role_arn: str | None) -> Stack:
        # moto's Stack leaves two of CloudFormationModel's abstract methods unimplemented (moto instantiates it too)
        stack = Stack(stack_id=generate_stack_id(name, self.region_name, self.account_id), name=name, template={},
                      parameters=parameters, account_id=self.account_id, region_name=self.region_name,
                      notification_arns=notification_arns, tags=tags, role_arn=role_arn,
                      cross_stack_resources=self.exports)  # type: ignore[abstract]
        self.stacks[stack.stack_id] = stack
        return stack

    def _live_stack(self, name_or_id: str) -> Stack | None:
        for stack in self.stacks.values():
            if stack.name == name_or_id or stack.stack_id == name_or_id:
                return stack  # type: ignore[return-value]
        return None

    def _run(self, stack: Stack, work: Callable[[Runner], Any], after: Callable[[], None] | None = None) -> None:
        """Carry out one operation in the background, answering the call once it ends or SETTLE_SECONDS pass.

        The operation is asynchronous, as on AWS; the call waits a moment because most of localcloud's
        operations end within it, and clients poll (the CDK CLI every 5 s): one that finds the stack
        settled at its first look has not waited 5 s for an operation of one.
        """
        operation = StackOperation(stack, Runner(stack, self.exports), work, after)
        self.engine.submit(operation)
        thread = self.engine.thread_of(operation.key)
        if thread is not None and thread is not threading.current_thread():
            thread.join(SETTLE_SECONDS)

    def _publish_exports(self, stack: Stack) -> None:
        if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
                del self.exports[name]
            for export in stack.exports:
                self.exports[export.name] = export

    @staticmethod
    def _check_idle(stack: Stack, verb: str) -> None:
        if stack.status in IN_PROGRESS:
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be {verb}.")

    def _preflight(self, document: dict[str, Any], values: dict[str, Any]) -> None:
        """AWS's checks of parameter values and template rules, before anything starts (preflight.py)."""

        def ssm_value(name: str) -> str | None:
            try:
                found = ssm_backends[self.account_id][self.region_name].get_parameter(name)
            except Exception:  # a malformed name or version is simply not there
                return None
            return None if found is None else str(found.value)

        preflight.check(document, values, ssm_value)

    def _parameters(self, given: list[dict[str, Any]], previous: Stack | None) -> dict[str, Any]:
        values = {}
        for parameter in given or []:
            key = parameter["ParameterKey"]
            if parameter.get("UsePreviousValue"):
                if previous is None or key not in previous.input_parameters:
                    if previous is not None and key in (previous.template_dict.get("Parameters") or {}):
                        continue  # it had its default; it keeps it
                    raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot specify "
                                                  f"usePreviousValue as true for a parameter key not in the "
                                                  f"previous template")
                values[key] = previous.input_parameters[key]
            else:
                values[key] = parameter.get("ParameterValue")
        return values

    # ---------------------------------------------------------------------------------------- stacks
    def create_stack(self, name: str, template: str, parameters: dict[str, Any],  # type: ignore[override]
                     notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                     role_arn: str | None = None, **_: Any) -> Stack:
        if self._live_stack(name) is not None:
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        document = parse_template(template)
        unsupported = unsupported_types(document)
        if unsupported:
            raise ValidationError(message=f"Template format error: localcloud does not support resource type(s) "
                                          f"{', '.join(unsupported)} yet")
        self._preflight(document, parameters)
        stack = self._new_stack(name, parameters, tags, notification_arns, role_arn)
        self._run(stack, lambda r: r.create(document, template, parameters), lambda: self._publish_exports(stack))
        return stack

    def update_stack_request(self, name: str, template: str, parameters: list[dict[str, Any]],
                             role_arn: str | None, tags: dict[str, str] | None) -> Stack:
        stack = self._live_stack(name)
        if stack is None:
            raise ValidationError(name)
        self._check_idle(stack, "updated")
        if stack.status in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
        document = parse_template(template)
        values = self._parameters(parameters, stack)
        self._preflight(document, values)
        if stack.template == template and values == stack.input_parameters:
            raise ValidationError(message="No updates are to be performed.")
        if tags is not None:
            stack.tags = tags
        if role_arn is not None:
            stack.role_arn = role_arn  # AWS: the role the stack uses from this update on
        self._run(stack, lambda r: r.update(document, template, values), lambda: self._publish_exports(stack))
        return stack

    def delete_stack(self, name_or_stack_id: str) -> None:
        stack = self._live_stack(name_or_stack_id)
        if stack is None:
            return  # AWS: deleting a stack that does not exist succeeds
        self._check_idle(stack, "deleted")

        def gone() -> None:
            if stack.status == "DELETE_COMPLETE":
                self.stacks.pop(stack.stack_id, None)
                self.deleted_stacks[stack.stack_id] = stack
                for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
                    del self.exports[name]
                for change_set_id in [i for i, c in self.change_sets.items() if c.stack_id == stack.stack_id]:
                    del self.change_sets[change_set_id]

        if not stack.resource_map._parsed_resources or stack.status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"):
            stack.set_status("DELETE_IN_PROGRESS", "User Initiated")
            stack.set_status("DELETE_COMPLETE")
            gone()
            return
        self._run(stack, lambda r: r.delete(), gone)

    # ---------------------------------------------------------------------------------------- change sets
    def create_change_set(self, stack_name: str, change_set_name: str, template: str,  # type: ignore[override]
                          parameters: list[dict[str, Any]], description: str, change_set_type: str,
                          notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                          role_arn: str | None = None, **_: Any) -> tuple[str, str]:
        if not change_set_name or not change_set_name[0].isalpha() or len(change_set_name) > 128 or not all(
                c.isalnum() or c == "-" for c in change_set_name):
            raise ValidationError(message=f"Invalid change set name: {change_set_name!r}")
        # A template that cannot be deployed makes a FAILED change set that says why; bad parameter
        # values or a failed rule are refused by the call itself, as AWS does.
        status, reason = "CREATE_COMPLETE", None
        try:
            document = parse_template(template)
            unsupported = unsupported_types(document)
            if unsupported:
                raise ValidationError(message=f"localcloud does not support resource type(s) "
                                              f"{', '.join(unsupported)} yet")
        except ValidationError as e:
            status, reason, document = "FAILED", e.message, {"Resources": {}}
        stack = self._live_stack(stack_name)
        if change_set_type == "CREATE":
            if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
                raise AlreadyExistsException(f"Stack [{stack_name}] already exists and cannot be created again with "
                                             f"the changeSet [{change_set_name}].")
            values = self._parameters(parameters, None)
            if status == "CREATE_COMPLETE":
                self._preflight(document, values)
            if stack is None:
                stack = self._new_stack(stack_name, values, tags, notification_arns, role_arn)
                stack.set_status("REVIEW_IN_PROGRESS", "User Initiated")
        elif change_set_type == "UPDATE":
            if stack is None:
                raise ValidationError(stack_name)
            if stack.status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE") or stack.status in IN_PROGRESS:
                raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be "
                                              f"updated.")
            values = self._parameters(parameters, stack)
            if status == "CREATE_COMPLETE":
                self._preflight(document, values)
        else:
            raise ValidationError(message=f"ChangeSetType {change_set_type!r} is not supported (CREATE or UPDATE)")
        for existing in self.change_sets.values():
            if existing.stack_id == stack.stack_id and existing.change_set_name == change_set_name:
                raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")
        change_set_id = generate_changeset_id(change_set_name, self.region_name, self.account_id)
        change_set = _PreparedChangeSet(change_set_type, change_set_id, change_set_name, stack, template, document,
                                        values, description, notification_arns, tags, role_arn, self.exports)
        if status == "CREATE_COMPLETE" and change_set_type == "UPDATE" and stack.template == template \
                and values == stack.input_parameters:
            status, reason = "FAILED", NO_CHANGES
        change_set.status, change_set.status_reason = status, reason
        change_set.execution_status = "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE"
        self.change_sets[change_set_id] = change_set
        return change_set_id, stack.stack_id

    def find_change_set(self, change_set_name: str, stack_name: str | None = None) -> ChangeSet:
        if change_set_name in self.change_sets:
            return self.change_sets[change_set_name]
        stack = self._live_stack(stack_name) if stack_name else None
        for change_set in self.change_sets.values():
            if change_set.change_set_name == change_set_name and (stack is None or change_set.stack_id ==
                                                                   stack.stack_id):
                return change_set
        raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")

    def describe_change_set(self, change_set_name: str, stack_name: str | None = None) -> ChangeSet:
        return self.find_change_set(change_set_name, stack_name)

    def delete_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        """As on AWS, deleting a change set by name succeeds whenever the stack exists (the CDK CLI relies on it)."""
        try:
            change_set = self.find_change_set(change_set_name, stack_name)
        except ChangeSetNotFound:
            if stack_name and self._live_stack(stack_name) is not None:
                return
            raise
        if change_set.execution_status == "EXECUTE_IN_PROGRESS":
            raise ValidationError(message=f"ChangeSet [{change_set_name}] is being executed and cannot be deleted")
        del self.change_sets[change_set.change_set_id]

    def list_change_sets_of(self, stack_name: str) -> list[ChangeSet]:
        stack = self._live_stack(stack_name)
        if stack is None:
            raise ValidationError(stack_name)
        return [c for c in self.change_sets.values() if c.stack_id == stack.stack_id]

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.find_change_set(change_set_name, stack_name)
        if change_set.execution_status != "AVAILABLE":
            raise ValidationError(message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                          f"status of [{change_set.status}]")
        stack: Stack = change_set.stack  # type: ignore[assignment]
        self._check_idle(stack, "updated")
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        assert isinstance(change_set, _PreparedChangeSet)
        document, text, values = change_set.document, change_set.template, change_set.parameters

        def finished() -> None:
            change_set.execution_status = "EXECUTE_COMPLETE" if stack.status.endswith("_COMPLETE") and \
                "ROLLBACK" not in stack.status else "EXECUTE_FAILED"
            for change_set_id in [i for i, c in self.change_sets.items() if c.stack_id == stack.stack_id]:
                if self.change_sets[change_set_id] is not change_set:
                    del self.change_sets[change_set_id]
            self._publish_exports(stack)

        if change_set.change_set_type == "CREATE":
            self._run(stack, lambda r: r.create(document, text, values), finished)
        else:
            self._run(stack, lambda r: r.update(document, text, values), finished)


class _PreparedChangeSet(ChangeSet):
    """moto's ChangeSet, holding the parsed template (or none, when it could not be parsed).

    Its changes are what executing it will do, worked out as the engine's update does (parameters
    and conditions applied), so that `cdk deploy` and `describe-change-set` show the truth.
    """

    def __init__(self, change_set_type: str, change_set_id: str, change_set_name: str, stack: Stack, template: str,
                 document: dict[str, Any], parameters: dict[str, Any], description: str,
                 notification_arns: list[str] | None, tags: dict[str, str] | None, role_arn: str | None,
                 exports: dict[str, Any]):
        self.document = document
        self.exports = exports
        super().__init__(change_set_type=change_set_type, change_set_id=change_set_id, change_set_name=change_set_name,
                         stack=stack, template=template, parameters=parameters, description=description,
                         notification_arns=notification_arns, tags=tags, role_arn=role_arn)

    def _parse_template(self) -> None:
        self.template_dict = self.document

    def diff(self) -> list[Change]:
        stack: Stack = self.stack  # type: ignore[assignment]
        if not self.document.get("Resources"):
            return []
        try:
            new_map = new_resource_map(stack, self.document, self.parameters, self.exports)
            deployed = self.change_set_type == "UPDATE" and isinstance(stack.template_dict, dict)
            planned = plan(stack.template_dict if deployed else {}, stack.resource_map if deployed else None,
                           stack.input_parameters, self.document, new_map, self.parameters)
        except Exception as e:  # the template fails to resolve: executing will say why, as a failed stack
            log.info("change set %s: changes not worked out (%s)", self.change_set_name, e)
            return []
        types = {name: r.get("Type", "") for name, r in {**planned.existing, **planned.wanted}.items()}
        actions = (("Add", planned.changes.add), ("Modify", planned.changes.modify),
                   ("Remove", planned.changes.remove))
        return [Change(action, name, types[name]) for action, names in actions for name in names]
