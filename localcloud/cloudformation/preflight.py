"""What CloudFormation checks before it starts an operation: parameter values and template rules.

AWS refuses a CreateStack, UpdateStack or CreateChangeSet at once (a ValidationError, no stack
event) when a parameter is missing or unknown, breaks its declared constraints (AllowedValues,
AllowedPattern, MinLength/MaxLength, MinValue/MaxValue, Number), when an SSM parameter type
names a parameter that does not exist, or when an assertion of the template's `Rules` section
fails. moto checks none of these, so a bad value would only surface (or not) when a resource
using it fails. The messages are AWS's where they are known.

Rules see parameter values as resources do: an `AWS::SSM::Parameter::Value<...>` parameter is
its stored value (the CDK's `CheckBootstrapVersion` rule compares the bootstrap version that
way), and only the rule functions that need no other service are supported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import regex
from moto.cloudformation.exceptions import ValidationError

SSM_TYPE = "AWS::SSM::Parameter::Value<"
_PATTERN_TIMEOUT = 0.5


def _fail(message: str) -> ValidationError:
    return ValidationError(message=message)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _members(kind: str, value: str) -> list[str]:
    listed = kind == "CommaDelimitedList" or kind.startswith("List<")
    return [member.strip() for member in value.split(",")] if listed else [value]


def _check_constraints(name: str, declared: Mapping[str, Any], value: str) -> None:
    kind = str(declared.get("Type", "String"))
    if kind.startswith(SSM_TYPE):
        return  # constraints apply to what the parameter names, checked by the SSM lookup
    described = declared.get("ConstraintDescription")

    def refuse(reason: str) -> ValidationError:
        return _fail(f"Parameter {name} failed to satisfy constraint: {described}" if described else reason)

    numeric = kind in ("Number", "List<Number>")
    for member in _members(kind, value):
        number = _number(member) if numeric else None
        if numeric and number is None:
            raise refuse(f"Parameter '{name}' must be a number")
        allowed = declared.get("AllowedValues")
        if isinstance(allowed, list) and member not in [str(v) for v in allowed]:
            raise refuse(f"Parameter '{name}' must be one of AllowedValues")
        pattern = declared.get("AllowedPattern")
        if isinstance(pattern, str) and not numeric:
            try:
                matched = regex.fullmatch(pattern, member, timeout=_PATTERN_TIMEOUT)
            except regex.error as e:
                raise _fail(f"Template format error: AllowedPattern of {name} is not a valid pattern: {e}") from None
            except TimeoutError:
                matched = None
            if matched is None:
                raise refuse(f"Parameter '{name}' must match pattern {pattern}")
        low, high = declared.get("MinLength"), declared.get("MaxLength")
        if not numeric and low is not None and len(member) < int(low):
            raise refuse(f"Parameter '{name}' must contain at least {int(low)} characters")
        if not numeric and high is not None and len(member) > int(high):
            raise refuse(f"Parameter '{name}' must contain at most {int(high)} characters")
        low, high = declared.get("MinValue"), declared.get("MaxValue")
        if number is not None and low is not None and number < float(low):
            raise refuse(f"Parameter '{name}' must be a number not less than {low}")
        if number is not None and high is not None and number > float(high):
            raise refuse(f"Parameter '{name}' must be a number not greater than {high}")


def resolve(template: Mapping[str, Any], given: Mapping[str, Any],
            ssm_value: Callable[[str], str | None]) -> dict[str, Any]:
    """Every declared parameter's value as rules see it; ValidationError for a bad or missing one.

    `ssm_value(name)` reads an SSM parameter (None when it does not exist).
    """
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise _fail("Template format error: Parameters must be an object")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise _fail(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values: dict[str, Any] = {}
    missing, unresolved = [], []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            missing.append(name)
            continue
        value = ",".join(str(v) for v in raw) if isinstance(raw, list) else str(raw)
        _check_constraints(name, spec, value)
        kind = str(spec.get("Type", "String"))
        if kind.startswith(SSM_TYPE):
            stored = ssm_value(value)
            if stored is None:
                unresolved.append(value)
                continue
            value = stored
            kind = kind[len(SSM_TYPE):-1]
        values[name] = _members(kind, value) if kind == "CommaDelimitedList" or kind.startswith("List<") else value
    if missing:
        raise _fail(f"Parameters: [{', '.join(missing)}] must have values")
    if unresolved:
        raise _fail(f"Unable to fetch parameters [{','.join(unresolved)}] from parameter store for this account.")
    return values


class _Rules:
    """Evaluates rule conditions and assertions over resolved parameter values."""

    def __init__(self, values: Mapping[str, Any]):
        self.values = values

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                if arg not in self.values:
                    raise _fail(f"Template format error: Unresolved dependencies [{arg}]. Cannot reference "
                                f"resources in the Rules block of the template")
                return self.values[arg]
            if key.startswith("Fn::"):
                return self.truth(node)
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if isinstance(node, bool):
            return node
        if isinstance(node, (str, int, float)):
            return str(node)
        raise _fail(f"Template format error: cannot evaluate {str(node)[:100]} in the Rules block")

    def strings(self, node: Any) -> list[str]:
        found = self.value(node)
        return [str(v) for v in found] if isinstance(found, list) else [str(found)]

    def truth(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if not (isinstance(node, dict) and len(node) == 1):
            raise _fail(f"Template format error: a rule condition must be a function, not {str(node)[:100]}")
        (key, arg), = node.items()
        args = arg if isinstance(arg, list) else [arg]
        if key == "Fn::Equals" and len(args) == 2:
            return self.value(args[0]) == self.value(args[1])
        if key == "Fn::Not" and len(args) == 1:
            return not self.truth(args[0])
        if key == "Fn::And" and 2 <= len(args) <= 10:
            return all(self.truth(a) for a in args)
        if key == "Fn::Or" and 2 <= len(args) <= 10:
            return any(self.truth(a) for a in args)
        if key == "Fn::Contains" and len(args) == 2:
            return str(self.value(args[1])) in self.strings(args[0])
        if key == "Fn::EachMemberEquals" and len(args) == 2:
            return all(member == str(self.value(args[1])) for member in self.strings(args[0]))
        if key == "Fn::EachMemberIn" and len(args) == 2:
            return set(self.strings(args[0])) <= set(self.strings(args[1]))
        if key in ("Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"):
            raise _fail(f"Template format error: localcloud does not support {key} in Rules yet")
        raise _fail(f"Template format error: {key} with {len(args)} argument(s) is not a rule function")


def check_rules(template: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Every rule whose RuleCondition holds must have all its assertions hold; ValidationError otherwise."""
    rules = template.get("Rules") or {}
    if not isinstance(rules, dict):
        raise _fail("Template format error: Rules must be an object")
    evaluate = _Rules(values)
    for name, rule in rules.items():
        if not isinstance(rule, dict) or not isinstance(rule.get("Assertions"), list):
            raise _fail(f"Template format error: rule {name} must have a list of Assertions")
        if "RuleCondition" in rule and not evaluate.truth(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not isinstance(assertion, dict) or "Assert" not in assertion:
                raise _fail(f"Template format error: every assertion of rule {name} needs an Assert")
            if not evaluate.truth(assertion["Assert"]):
                raise _fail(str(assertion.get("AssertDescription") or f"Assertion of rule {name} failed"))


def check(template: Mapping[str, Any], given: Mapping[str, Any], ssm_value: Callable[[str], str | None]) -> None:
    """The whole pre-flight check of one operation: parameters, then rules."""
    check_rules(template, resolve(template, given, ssm_value))
