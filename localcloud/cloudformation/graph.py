"""What a template's resources need from each other, and what a new template changes: pure functions.

CloudFormation creates a resource after everything it refers to (`Ref`, `Fn::GetAtt`, `Fn::Sub`
variables, `DependsOn`) and deletes in the opposite order; an update adds what is new, modifies
what changed (its definition, a parameter it reads, or a resource it reads that was replaced)
and removes what is gone once the rest has succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

__all__ = ["Changes", "TemplateError", "conditions_used", "creation_order", "diff", "references"]

_SUB_VARIABLE = re.compile(r"\$\{([^!][^}]*)\}")
PSEUDO_PARAMETERS = frozenset({"AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
                               "AWS::NoValue", "AWS::Partition", "AWS::NotificationARNs"})


class TemplateError(ValueError):
    """The template cannot be deployed as written; the message is CloudFormation's kind of reason."""


def _walk(value: Any, visit: Callable[[str, Any], Iterable[Any] | None]) -> None:
    """Walk a template value; each one-key object is offered to `visit(key, argument)`, which
    returns the parts of it still to walk (None: all of its values)."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            further = visit(*next(iter(item.items()))) if len(item) == 1 else None
            stack.extend(item.values() if further is None else further)


def references(value: Any) -> set[str]:
    """Every logical name `value` refers to through Ref, Fn::GetAtt or Fn::Sub (parameters included)."""
    found: set[str] = set()

    def visit(key: str, arg: Any) -> Iterable[Any] | None:
        if key == "Ref" and isinstance(arg, str):
            found.add(arg)
            return ()
        if key == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) and arg else arg
            if isinstance(target, str):
                found.add(target.split(".", 1)[0])
            return ()
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
            if isinstance(text, str):
                local = set(variables) if isinstance(variables, dict) else set()
                found.update(name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)
                             if name.split(".", 1)[0] not in local)
            return variables.values() if isinstance(variables, dict) else ()
        return None

    _walk(value, visit)
    return found - PSEUDO_PARAMETERS


def conditions_used(value: Any) -> set[str]:
    """The conditions `value` chooses between with Fn::If."""
    found: set[str] = set()

    def visit(key: str, arg: Any) -> None:
        if key == "Fn::If" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            found.add(arg[0])

    _walk(value, visit)
    return found


def _depends_on(resource: Mapping[str, Any]) -> set[str]:
    value = resource.get("DependsOn") or []
    return {value} if isinstance(value, str) else set(value)


def dependencies(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """logical id -> the other resources it needs (parameters and unknown names left out)."""
    graph = {}
    for name, resource in resources.items():
        needed = (references(resource.get("Properties", {})) | _depends_on(resource)) & set(resources)
        missing = _depends_on(resource) - set(resources)
        if missing:
            raise TemplateError(f"Template format error: Unresolved resource dependencies {sorted(missing)} in the "
                                f"Resources block of the template")
        graph[name] = needed - {name}
    return graph


def creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids so that each comes after everything it refers to (ties by name, for repeatable runs)."""
    sorter = TopologicalSorter(dependencies(resources))
    try:
        sorter.prepare()
    except CycleError as e:
        raise TemplateError(f"Circular dependency between resources: {sorted(set(e.args[1]))}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


@dataclass
class Changes:
    add: list[str] = field(default_factory=list)
    modify: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


def diff(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]],
         changed_parameters: Iterable[str] = (), changed_conditions: Iterable[str] = ()) -> Changes:
    """What deploying `new` over `old` adds, modifies and removes (by logical id, in template order).

    `old` and `new` hold the resources that exist (their Condition true) before and after; a
    resource is modified when its definition changed or it reads a parameter whose value, or
    chooses (Fn::If) by a condition whose outcome, changed.
    """
    changed, flipped = set(changed_parameters), set(changed_conditions)
    changes = Changes()
    for name, resource in new.items():
        properties = resource.get("Properties", {})
        if name not in old:
            changes.add.append(name)
        elif old[name] != resource or references(properties) & changed or conditions_used(properties) & flipped:
            changes.modify.append(name)
    changes.remove = [name for name in old if name not in new]
    return changes
