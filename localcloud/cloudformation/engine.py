"""Stack operations as CloudFormation runs them: ordered, resource by resource, rolled back on failure.

moto resolves intrinsic functions (its `ResourceMap`) and provisions one resource at a time
(each type's `*_from_cloudformation_json`); this module decides *what* happens to a stack:

- create: every resource after the ones it refers to; on the first failure the stack rolls
  back (what was created is deleted, newest first) and ends ROLLBACK_COMPLETE with the reason;
- update: new resources are created and changed ones updated in dependency order, and only when
  all succeeded are removed resources (and ones an update replaced) deleted; on failure the update
  rolls back (added resources deleted, modified ones restored) to UPDATE_ROLLBACK_COMPLETE;
- delete: newest first, skipping `DeletionPolicy: Retain`; a resource that cannot be deleted
  leaves the stack DELETE_FAILED, saying which and why.

Every step appends the stack event and resource status the CDK CLI and `describe-stack-events`
show. Operations run on a thread of their own: the API answers at once, as AWS does.
"""

from __future__ import annotations

import copy
import logging
import threading
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudformation.models import Event
from moto.cloudformation.models import Stack as MotoStack
from moto.cloudformation.parsing import (
    OutputMap,
    ResourceMap,
    clean_json,
    get_model_map,
    parse_and_create_resource,
    parse_and_delete_resource,
    parse_and_update_resource,
)

from localcloud.cloudformation import graph, schemas
from localcloud.cloudformation.resource import ReplacementNeeded, ResourceFailed

log = logging.getLogger("localcloud.cloudformation")

NO_OP_TYPES = frozenset({"AWS::CDK::Metadata", "AWS::CloudFormation::WaitConditionHandle"})
"""Types that provision nothing anyone can call (CDK's analytics; a handle with no signal)."""
IN_PROGRESS = frozenset({"CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
                         "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
                         "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"})
RETAINED = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})


@dataclass
class ResourceState:
    """One row of DescribeStackResources / ListStackResources."""

    logical_id: str
    resource_type: str
    physical_id: str | None
    status: str
    reason: str | None
    timestamp: datetime


class Stack(MotoStack):
    """moto's stack record, with per-resource status, raw input parameters and a status reason.

    Named `Stack` like moto's: moto's serializer finds `StackStatus` as `status` by the class name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.resource_states: dict[str, ResourceState] = {}
        self.status_reason: str | None = None
        self.last_updated_time: datetime | None = None
        self.input_parameters: dict[str, Any] = dict(kwargs.get("parameters") or {})
        self.lock = threading.RLock()
        super().__init__(*args, **kwargs)

    @property
    def stack_status_reason(self) -> str | None:
        return self.status_reason

    @property
    def outputs(self) -> list[dict[str, Any]] | None:
        # Outputs are resolved lazily by moto; resolving one mid-operation would create resources.
        if self.status in IN_PROGRESS or self.status in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"):
            return None
        return super().outputs

    @property
    def stack_resources(self) -> list[Any]:
        return [r for r in self.resource_map._parsed_resources.values() if hasattr(r, "logical_resource_id")]

    def event(self, logical_id: str, resource_type: str, status: str, reason: str | None = None,
              physical_id: str | None = None) -> None:
        event = Event(stack_id=self.stack_id, stack_name=self.name, logical_resource_id=logical_id,
                      physical_resource_id=physical_id or "", resource_type=resource_type, resource_status=status,
                      resource_status_reason=reason, resource_properties=None)
        if self.events and event.timestamp <= self.events[-1].timestamp:
            # Tools order events by time (to the millisecond): keep them in the order they happened.
            event.timestamp = self.events[-1].timestamp + timedelta(milliseconds=1)
        self.events.append(event)
        if resource_type != "AWS::CloudFormation::Stack":
            self.resource_states[logical_id] = ResourceState(logical_id, resource_type, physical_id, status, reason,
                                                             event.timestamp)

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.status = status
        if reason is not None or status.endswith("IN_PROGRESS"):
            self.status_reason = reason
        self.event(self.name, "AWS::CloudFormation::Stack", status, reason, self.stack_id)


def supported(resource_type: str) -> bool:
    return resource_type in NO_OP_TYPES or resource_type in get_model_map()


def unsupported_types(template: dict[str, Any]) -> list[str]:
    return sorted({r.get("Type", "?") for r in (template.get("Resources") or {}).values()
                   if not supported(r.get("Type", ""))})


def new_resource_map(stack: Stack, template: dict[str, Any], parameters: dict[str, Any],
                     exports: dict[str, Any]) -> ResourceMap:
    resource_map = ResourceMap(stack.stack_id, stack.name, parameters, stack.tags, region_name=stack.region_name,
                               account_id=stack.account_id, template=template, cross_stack_resources=exports)
    resource_map.load()
    return resource_map


def active(resources: dict[str, Any], resource_map: ResourceMap) -> dict[str, Any]:
    """The resources that exist under this map's parameters: no Condition, or one that holds."""
    return {name: resource for name, resource in resources.items()
            if not resource.get("Condition") or resource_map.lazy_condition_map[resource["Condition"]]}


def _outcomes(resource_map: ResourceMap) -> dict[str, bool]:
    return {name: bool(resource_map.lazy_condition_map[name]) for name in resource_map.lazy_condition_map}


@dataclass
class Plan:
    """What an update does: the resources before and after (conditions applied) and the changes between."""

    existing: dict[str, Any]
    wanted: dict[str, Any]
    changes: graph.Changes


def plan(old_template: dict[str, Any], old_map: ResourceMap | None, old_parameters: dict[str, Any],
         new_template: dict[str, Any], new_map: ResourceMap, new_parameters: dict[str, Any]) -> Plan:
    """Compare two deployments: old (None map: nothing deployed yet) and new, parameters and conditions applied."""
    wanted = active(new_template.get("Resources") or {}, new_map)
    if old_map is None:
        return Plan({}, wanted, graph.diff({}, wanted))
    existing = active(old_template.get("Resources") or {}, old_map)
    was, now = _outcomes(old_map), _outcomes(new_map)
    flipped = {name for name in set(was) | set(now) if was.get(name) != now.get(name)}
    changed = {k for k in set(new_parameters) | set(old_parameters) if new_parameters.get(k) != old_parameters.get(k)}
    return Plan(existing, wanted, graph.diff(existing, wanted, changed, flipped))


def _reason(error: BaseException) -> str:
    message = getattr(error, "message", None) or getattr(error, "description", None) or str(error)
    code = getattr(error, "error_type", None) or getattr(error, "code", None)
    text = f"{code}: {message}" if isinstance(code, str) and code and code not in str(message) else str(message)
    return text.strip()[:1024] or type(error).__name__


class Runner:
    """Runs one operation on one stack; called on its own thread by the backend."""

    def __init__(self, stack: Stack, exports: dict[str, Any]):
        self.stack = stack
        self.exports = exports
        self.account_id, self.region = stack.account_id, stack.region_name

    # ---------------------------------------------------------------------------------------- primitives
    def _provision(self, resource_map: ResourceMap, logical_id: str, resource: dict[str, Any],
                   update: bool) -> tuple[Any, bool]:
        """Create (or update) one resource: (the resource, whether an update had to create a new one).

        A type moto cannot update in place is replaced: the new resource is created here and the
        old one is the caller's to delete once the update has succeeded. Raises ResourceFailed.
        """
        kind = resource.get("Type", "")
        if kind in NO_OP_TYPES:
            return None, False
        if not supported(kind):
            raise ResourceFailed(f"localcloud does not support resource type {kind} yet")
        replaced = False
        try:
            invalid = schemas.problems(kind, clean_json(copy.deepcopy(resource.get("Properties") or {}), resource_map))
            if invalid:
                raise ResourceFailed(f"Properties validation failed for resource {logical_id} with message: "
                                     + "; ".join(invalid))
            made = None
            if update:
                try:
                    made = parse_and_update_resource(logical_id, copy.deepcopy(resource), resource_map,
                                                     account_id=self.account_id, region_name=self.region)
                except ReplacementNeeded:
                    made = None
                replaced = made is None
            if made is None:
                made = parse_and_create_resource(logical_id, copy.deepcopy(resource), resource_map,
                                                 account_id=self.account_id, region_name=self.region)
        except ResourceFailed:
            raise
        except Exception as e:  # moto's and the services' errors: the resource failed, not localcloud
            if not hasattr(e, "message") and not hasattr(e, "description"):
                log.warning("provisioning %s (%s) of stack %s failed:\n%s", logical_id, kind, self.stack.name,
                            traceback.format_exc())
            raise ResourceFailed(_reason(e)) from e
        if made is not None:
            resource_map._parsed_resources[logical_id] = made
        return made, replaced

    def _delete(self, instance: Any, resource: dict[str, Any]) -> None:
        if instance is None or resource.get("Type") in NO_OP_TYPES:
            return
        try:
            try:
                instance.delete(self.account_id, self.region)
            except (TypeError, AttributeError):
                # moto annotates the name `str`; an instance without a physical id passes None, as before
                parse_and_delete_resource(getattr(instance, "physical_resource_id", None),  # type: ignore[arg-type]
                                          copy.deepcopy(resource), self.account_id, self.region)
        except Exception as e:
            raise ResourceFailed(_reason(e)) from e

    @staticmethod
    def _physical_id(instance: Any) -> str | None:
        try:
            value = getattr(instance, "physical_resource_id", None)
        except Exception:  # a lazily computed id of a half-made resource
            return None
        return str(value) if value is not None else None

    # ---------------------------------------------------------------------------------------- create
    def create(self, template: dict[str, Any], text: str, parameters: dict[str, Any]) -> None:
        stack = self.stack
        stack.set_status("CREATE_IN_PROGRESS", "User Initiated")
        resources = template.get("Resources") or {}
        created: list[str] = []
        try:
            order = graph.creation_order(resources)
            resource_map = new_resource_map(stack, template, parameters, self.exports)
            stack.template, stack.template_dict, stack.resource_map = text, template, resource_map
            stack.input_parameters = dict(parameters)
            stack.description = template.get("Description")
            for logical_id in order:
                resource = resources[logical_id]
                condition = resource.get("Condition")
                if condition and not resource_map.lazy_condition_map[condition]:
                    continue
                kind = resource.get("Type", "")
                stack.event(logical_id, kind, "CREATE_IN_PROGRESS")
                try:
                    made, _ = self._provision(resource_map, logical_id, resource, update=False)
                except ResourceFailed as e:
                    stack.event(logical_id, kind, "CREATE_FAILED", str(e))
                    raise ResourceFailed(f"The following resource(s) failed to create: [{logical_id}]. "
                                         f"{logical_id}: {e}") from e
                created.append(logical_id)
                stack.event(logical_id, kind, "CREATE_COMPLETE", physical_id=self._physical_id(made))
            stack.output_map = OutputMap(resource_map, template, stack.stack_id)
            stack.set_status("CREATE_COMPLETE")
        except (ResourceFailed, graph.TemplateError) as e:
            self._roll_back_create(created, resources, str(e))
        except Exception as e:
            log.exception("creating stack %s failed inside localcloud", stack.name)
            self._roll_back_create(created, resources, f"Internal failure: {_reason(e)}")

    def _roll_back_create(self, created: list[str], resources: dict[str, Any], reason: str) -> None:
        stack = self.stack
        stack.set_status("ROLLBACK_IN_PROGRESS", reason)
        failed = self._delete_all(reversed(created), resources, stack.resource_map, "DELETE")
        stack.set_status("ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE", reason)

    # ---------------------------------------------------------------------------------------- update
    def update(self, template: dict[str, Any], text: str, parameters: dict[str, Any]) -> None:
        stack = self.stack
        stack.set_status("UPDATE_IN_PROGRESS", "User Initiated")
        old_template, old_text, old_map = stack.template_dict, stack.template, stack.resource_map
        old_resources = old_template.get("Resources") or {}
        new_resources = template.get("Resources") or {}
        done: list[tuple[str, str]] = []  # (logical id, "add" | "modify"), in the order they happened
        replaced: list[tuple[Any, dict[str, Any]]] = []  # old resources an update replaced, to delete at cleanup
        new_map = old_map
        changes = graph.Changes()
        try:
            order = graph.creation_order(new_resources)
            new_map = new_resource_map(stack, template, parameters, self.exports)
            planned = plan(old_template, old_map, stack.input_parameters, template, new_map, parameters)
            new_resources, changes = planned.wanted, planned.changes
            for logical_id, instance in old_map._parsed_resources.items():
                if logical_id in new_resources and hasattr(instance, "logical_resource_id"):
                    new_map._parsed_resources[logical_id] = instance
            stack.resource_map = new_map
            physical_changed: set[str] = set()
            for logical_id in order:
                if logical_id not in new_resources:
                    continue
                resource = new_resources[logical_id]
                kind = resource.get("Type", "")
                if logical_id in changes.add:
                    stack.event(logical_id, kind, "CREATE_IN_PROGRESS")
                    made, _ = self._step(new_map, logical_id, resource, update=False)
                    done.append((logical_id, "add"))
                    stack.event(logical_id, kind, "CREATE_COMPLETE", physical_id=self._physical_id(made))
                elif logical_id in changes.modify or graph.references(resource.get("Properties")) & physical_changed:
                    before = new_map._parsed_resources.get(logical_id)
                    stack.event(logical_id, kind, "UPDATE_IN_PROGRESS", physical_id=self._physical_id(before))
                    made, created_anew = self._step(new_map, logical_id, resource, update=True)
                    done.append((logical_id, "modify"))
                    if self._physical_id(made) != self._physical_id(before):
                        physical_changed.add(logical_id)
                    if created_anew and before is not None:
                        replaced.append((before, old_resources[logical_id]))
                    stack.event(logical_id, kind, "UPDATE_COMPLETE", physical_id=self._physical_id(made))
        except Exception as e:
            expected = isinstance(e, (ResourceFailed, graph.TemplateError))
            if not expected:
                log.exception("updating stack %s failed inside localcloud", stack.name)
            reason = str(e) if expected else f"Internal failure: {_reason(e)}"
            self._roll_back_update(done, old_template, old_text, old_map, new_map, new_resources, reason)
            return
        stack.template, stack.template_dict, stack.input_parameters = text, template, dict(parameters)
        stack.description = template.get("Description")
        stack.output_map = OutputMap(new_map, template, stack.stack_id)
        stack.last_updated_time = datetime.now(UTC)
        stack.set_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        removed = [name for name in _deletion_order(old_resources) if name in changes.remove]
        self._delete_all(removed, old_resources, old_map, "DELETE", retain=True)
        for instance, resource in replaced:
            try:
                self._delete(instance, resource)
            except ResourceFailed as e:
                log.warning("stack %s: the replaced %s could not be deleted: %s", stack.name, resource.get("Type"), e)
        stack.set_status("UPDATE_COMPLETE")

    def _step(self, resource_map: ResourceMap, logical_id: str, resource: dict[str, Any],
              update: bool) -> tuple[Any, bool]:
        try:
            return self._provision(resource_map, logical_id, resource, update=update)
        except ResourceFailed as e:
            self.stack.event(logical_id, resource.get("Type", ""), "UPDATE_FAILED" if update else "CREATE_FAILED",
                             str(e))
            verb = "update" if update else "create"
            raise ResourceFailed(f"The following resource(s) failed to {verb}: [{logical_id}]. {logical_id}: {e}") \
                from e

    def _roll_back_update(self, done: list[tuple[str, str]], old_template: dict[str, Any],
                          old_text: str | dict[str, Any],
                          old_map: ResourceMap, new_map: ResourceMap, new_resources: dict[str, Any],
                          reason: str) -> None:
        """Restore what was modified (with the old definitions), then delete what was added."""
        stack = self.stack
        stack.set_status("UPDATE_ROLLBACK_IN_PROGRESS", reason)
        old_resources = old_template.get("Resources") or {}
        failed = False
        for logical_id, action in reversed(done):
            if action != "modify":
                continue
            kind = old_resources[logical_id].get("Type", "")
            current = new_map._parsed_resources.get(logical_id)
            if current is not None:
                old_map._parsed_resources[logical_id] = current
            stack.event(logical_id, kind, "UPDATE_IN_PROGRESS", physical_id=self._physical_id(current))
            try:
                made, _ = self._provision(old_map, logical_id, old_resources[logical_id], update=True)
                stack.event(logical_id, kind, "UPDATE_COMPLETE", physical_id=self._physical_id(made))
            except ResourceFailed as e:
                failed = True
                stack.event(logical_id, kind, "UPDATE_FAILED", str(e))
        stack.resource_map, stack.template, stack.template_dict = old_map, old_text, old_template
        stack.set_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        added = [name for name, action in reversed(done) if action == "add"]
        failed |= self._delete_all(added, new_resources, new_map, "DELETE")
        stack.set_status("UPDATE_ROLLBACK_FAILED" if failed else "UPDATE_ROLLBACK_COMPLETE", reason)

    # ---------------------------------------------------------------------------------------- delete
    def delete(self) -> bool:
        """Delete every resource but retained ones; True when the stack is gone."""
        stack = self.stack
        stack.set_status("DELETE_IN_PROGRESS", "User Initiated")
        resources = (stack.template_dict.get("Resources") or {}) if isinstance(stack.template_dict, dict) else {}
        present = [name for name in _deletion_order(resources) if name in stack.resource_map._parsed_resources]
        failed = self._delete_all(present, resources, stack.resource_map, "DELETE", retain=True)
        if failed:
            stack.set_status("DELETE_FAILED", "The following resource(s) failed to delete: "
                                              f"[{', '.join(failed_names(stack))}]. ")
            return False
        stack.set_status("DELETE_COMPLETE")
        return True

    def _delete_all(self, names: Any, resources: dict[str, Any], source: ResourceMap, verb: str,
                    retain: bool = False) -> bool:
        """Delete these resources of `source` in the order given; True if any could not be deleted."""
        stack = self.stack
        failed = False
        for logical_id in names:
            resource = resources.get(logical_id, {})
            kind = resource.get("Type", "")
            instance = source._parsed_resources.get(logical_id)
            if isinstance(instance, str):
                continue
            physical = self._physical_id(instance)
            if retain and resource.get("DeletionPolicy") in RETAINED:
                stack.event(logical_id, kind, "DELETE_SKIPPED", physical_id=physical)
                source._parsed_resources.pop(logical_id, None)
                continue
            stack.event(logical_id, kind, f"{verb}_IN_PROGRESS", physical_id=physical)
            try:
                self._delete(instance, resource)
            except ResourceFailed as e:
                failed = True
                stack.event(logical_id, kind, f"{verb}_FAILED", str(e), physical)
                continue
            source._parsed_resources.pop(logical_id, None)
            stack.event(logical_id, kind, f"{verb}_COMPLETE", physical_id=physical)
        return failed


def _deletion_order(resources: dict[str, Any]) -> list[str]:
    try:
        return list(reversed(graph.creation_order(resources)))
    except graph.TemplateError:
        return list(reversed(list(resources)))


def failed_names(stack: Stack) -> list[str]:
    return sorted(name for name, state in stack.resource_states.items() if state.status == "DELETE_FAILED")
