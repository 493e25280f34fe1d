"""CloudFormation's resource schemas: are a resource's properties valid, and does a change replace it?

AWS checks every resource's (resolved) properties against the type's registry schema before its
handler runs, and a change to a `createOnlyProperties` member replaces the resource instead of
updating it. The schemas ship with cfn-lint (the same registry schemas, kept current per region);
they are read from there rather than written again here.

Two leniencies match what CloudFormation accepts: a number or boolean may arrive as a string
("5", "true", as parameters and `Fn::Sub` produce them), and a pattern the registry writes for
another regex dialect is matched with `regex` (Unicode classes and all) or, failing that, not
held against the value.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import jsonschema
import regex
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError as SchemaError

log = logging.getLogger("localcloud.cloudformation")

_REGION = "us-east-1"  # the schemas' shape does not differ between regions for the types localcloud runs


def _is_number(checker: Any, value: Any) -> bool:
    if isinstance(value, str):
        try:
            float(value)
            return True
        except ValueError:
            return False
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(checker: Any, value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lstrip("-").isdigit()
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_boolean(checker: Any, value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    if not isinstance(instance, str):
        return
    try:
        found = regex.search(pattern, instance, timeout=0.5)
    except (regex.error, TimeoutError):
        return
    if found is None:
        yield SchemaError(f"string [{instance[:80]}] does not match pattern {pattern}")


_Validator = jsonschema.validators.extend(
    Draft7Validator,
    validators={"pattern": _pattern},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine_many(
        {"number": _is_number, "integer": _is_integer, "boolean": _is_boolean}),
)


@functools.cache
def schema(resource_type: str) -> dict[str, Any] | None:
    """The registry schema of `resource_type`, or None when there is none to check against."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        found = PROVIDER_SCHEMA_MANAGER.get_resource_schema(_REGION, resource_type)
    except Exception:  # an unknown or custom type: nothing to check against
        return None
    return found.schema if isinstance(getattr(found, "schema", None), dict) else None


@functools.cache
def _validator(resource_type: str) -> Any:
    found = schema(resource_type)
    if found is None:
        return None
    body = {k: v for k, v in found.items() if k in ("properties", "definitions", "required", "additionalProperties",
                                                    "oneOf", "anyOf", "allOf", "dependencies")}
    body["type"] = "object"
    read_only = {p.rsplit("/", 1)[-1] for p in found.get("readOnlyProperties") or []}
    body["properties"] = {k: v for k, v in (found.get("properties") or {}).items() if k not in read_only}
    return _Validator(body)


def _path(error: SchemaError) -> str:
    return "#" + "".join(f"/{part}" for part in error.absolute_path)


def _message(error: SchemaError) -> str:
    """One error in the words CloudFormation uses for it."""
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        return f"{_path(error)}: required key [{missing}] not found"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties") or {})) \
            if isinstance(error.instance, dict) else []
        return f"{_path(error)}: extraneous key [{', '.join(extra)}] is not permitted"
    if error.validator == "type":
        found = type(error.instance).__name__.replace("str", "String").replace("dict", "JSONObject") \
            .replace("list", "JSONArray").replace("int", "Integer").replace("float", "Number")
        return f"{_path(error)}: expected type: {error.validator_value}, found: {found}"
    if error.validator == "enum":
        return f"{_path(error)}: {error.instance} is not a valid enum value"
    return f"{_path(error)}: {error.message}"


def _without_none(value: Any) -> Any:
    """Resolved properties without what `AWS::NoValue` removed (moto leaves None in its place)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


def problems(resource_type: str, properties: dict[str, Any]) -> list[str]:
    """What is wrong with these resolved properties under the type's schema (empty when nothing is)."""
    validator = _validator(resource_type)
    if validator is None:
        return []
    given = _without_none(properties)
    try:
        errors = sorted(validator.iter_errors(given), key=lambda e: (list(e.absolute_path), e.validator))
    except Exception:  # a schema construct this validator cannot evaluate: do not fail the resource for it
        log.debug("could not validate %s against its schema", resource_type, exc_info=True)
        return []
    return [_message(e) for e in errors[:5]]


def replaced_by(resource_type: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The create-only properties whose change makes this update a replacement (empty: update in place)."""
    found = schema(resource_type) or {}
    names = [p.split("/")[2] for p in found.get("createOnlyProperties") or [] if p.startswith("/properties/")]
    return sorted({name for name in names if old.get(name) != new.get(name)})
