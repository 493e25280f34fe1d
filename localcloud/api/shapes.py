"""Check a decoded request against an operation's input shape, the way AWS's front end does.

Pure: a value (JSON-like: dict, list, str, int, float, bool, None) and a botocore `Shape` in,
a list of `Problem`s out. Two kinds of problem, as AWS distinguishes them:

- `type`: the value is not of the shape's type (a number where a string belongs). AWS answers
  these as a SerializationException: the request could not even be read.
- `constraint`: the value has the right type but breaks a constraint of the model (required,
  length, range, pattern, enum). AWS answers ValidationException with its fixed sentences,
  "Value '../x' at 'processingJobName' failed to satisfy constraint: Member must satisfy regular
  expression pattern: ...", members named in lowerCamelCase, list items as `name.1.member`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import regex
from botocore.model import Shape

__all__ = ["MAX_DEPTH", "MAX_PROBLEMS", "Problem", "check", "describe", "member_path", "pattern", "summary"]

MAX_DEPTH = 64
"""Deeper nesting than any AWS shape needs is refused before it can exhaust the stack."""
MAX_PROBLEMS = 10
"""AWS lists a handful of problems; after this many the rest are not looked for."""

_INTEGRAL = ("integer", "long")
_FRACTIONAL = ("float", "double")
_SURROGATE_RANGE = r"\uD800\uDC00-\uDBFF\uDFFF"
"""Java patterns spell "every supplementary character" as a UTF-16 surrogate range."""


@dataclass(frozen=True)
class Problem:
    path: str
    """Where, as AWS names it: lowerCamelCase members, `.N.member` for the Nth list item (from 1)."""
    value: Any
    constraint: str
    kind: Literal["type", "constraint"] = "constraint"

    def sentence(self) -> str:
        if self.kind == "type":
            return f"{self.constraint} at '{self.path}'"
        return f"Value {describe(self.value)} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def summary(problems: list[Problem]) -> str:
    """All problems in AWS's wording: "2 validation errors detected: Value ... ; Value ..."."""
    count = len(problems)
    head = f"{count} validation error{'s' if count > 1 else ''} detected: "
    return head + "; ".join(p.sentence() for p in problems)


def describe(value: Any, limit: int = 128) -> str:
    """A value as AWS quotes it in a validation message (null unquoted, long values cut)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = "[" + ", ".join(str(v) for v in value[:20]) + (", ..." if len(value) > 20 else "") + "]"
    else:
        text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"'{text}'"


def member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


@functools.lru_cache(maxsize=2048)
def pattern(text: str) -> regex.Pattern[str] | None:
    """A model's (Java) pattern compiled for full-string matching; None if it cannot be compiled."""
    translated = text.replace(_SURROGATE_RANGE, r"\U00010000-\U0010FFFF")
    try:
        return regex.compile(translated)
    except (regex.error, ValueError, OverflowError):
        return None


def check(value: Any, shape: Shape, *, path: str = "", skip_required: Collection[str] = (),
          placeholder: Callable[[Any], bool] | None = None) -> list[Problem]:
    """Every problem of `value` against `shape`, up to MAX_PROBLEMS.

    skip_required: top-level members that may be missing although the model requires them
        (a pipeline step's job name, which the pipeline supplies).
    placeholder: values accepted in place of anything (a pipeline definition's expressions).
    """
    checker = _Checker(placeholder)
    checker.visit(value, shape, path, 0, frozenset(skip_required))
    return checker.problems


class _Checker:
    def __init__(self, placeholder: Callable[[Any], bool] | None):
        self.placeholder = placeholder
        self.problems: list[Problem] = []

    def add(self, path: str, value: Any, constraint: str, kind: Literal["type", "constraint"] = "constraint") -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(path or "input", value, constraint, kind))

    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def visit(self, value: Any, shape: Shape, path: str, depth: int, skip: frozenset[str] = frozenset()) -> None:
        if self.full():
            return
        if depth > MAX_DEPTH:
            self.add(path, value, f"Nesting deeper than {MAX_DEPTH} levels", "type")
            return
        if value is None:
            return  # absent; `required` is the parent's business
        if self.placeholder is not None and self.placeholder(value):
            return
        if getattr(shape, "is_document_type", False):
            return
        kind = shape.type_name
        if kind == "structure":
            self.structure(value, shape, path, depth, skip)
        elif kind == "list":
            self.sequence(value, shape, path, depth)
        elif kind == "map":
            self.mapping(value, shape, path, depth)
        elif kind == "string":
            self.string(value, shape, path)
        elif kind in _INTEGRAL or kind in _FRACTIONAL:
            self.number(value, shape, path)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.add(path, value, f"Expected a boolean, got {_json_type(value)}", "type")
        elif kind == "timestamp":
            self.timestamp(value, path)
        elif kind == "blob":
            self.blob(value, shape, path)

    def structure(self, value: Any, shape: Shape, path: str, depth: int, skip: frozenset[str]) -> None:
        if not isinstance(value, dict):
            self.add(path, value, f"Expected an object, got {_json_type(value)}", "type")
            return
        members = shape.members
        for name in shape.required_members:
            if name not in skip and value.get(name) is None:
                self.add(member_path(path, name), None, "Member must not be null")
        for name, member in members.items():
            if name in value:
                self.visit(value[name], member, member_path(path, name), depth + 1)

    def sequence(self, value: Any, shape: Shape, path: str, depth: int) -> None:
        if not isinstance(value, list):
            self.add(path, value, f"Expected a list, got {_json_type(value)}", "type")
            return
        self.size(value, len(value), shape, path)
        for index, item in enumerate(value, start=1):
            if self.full():
                return
            if item is None:
                self.add(f"{path}.{index}.member", None, "Member must not be null")
                continue
            self.visit(item, shape.member, f"{path}.{index}.member", depth + 1)

    def mapping(self, value: Any, shape: Shape, path: str, depth: int) -> None:
        if not isinstance(value, dict):
            self.add(path, value, f"Expected an object, got {_json_type(value)}", "type")
            return
        self.size(value, len(value), shape, path)
        for key, item in value.items():
            if self.full():
                return
            self.visit(key, shape.key, f"{path}.key", depth + 1)
            if item is None:
                self.add(f"{path}.{key}", None, "Map value must not be null")
                continue
            self.visit(item, shape.value, f"{path}.{key}", depth + 1)

    def string(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, value, f"Expected a string, got {_json_type(value)}", "type")
            return
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            self.add(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            return
        if not self.size(value, len(value), shape, path):
            return
        text = shape.metadata.get("pattern")
        if text:
            compiled = pattern(text)
            if compiled is not None and compiled.fullmatch(value) is None:
                self.add(path, value, f"Member must satisfy regular expression pattern: {text}")

    def number(self, value: Any, shape: Shape, path: str) -> None:
        integral = shape.type_name in _INTEGRAL
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, value, f"Expected {'an integer' if integral else 'a number'}, got {_json_type(value)}",
                     "type")
            return
        if integral and not isinstance(value, int):
            self.add(path, value, "Expected an integer, got a fractional number", "type")
            return
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, value, "Expected a finite number", "type")
            return
        if shape.type_name == "integer" and not -(2**31) <= value < 2**31:
            self.add(path, value, "Expected a 32-bit integer", "type")
            return
        if shape.type_name == "long" and not -(2**63) <= value < 2**63:
            self.add(path, value, "Expected a 64-bit integer", "type")
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.add(path, value, f"Member must have value greater than or equal to {_number_text(low)}")
        elif high is not None and value > high:
            self.add(path, value, f"Member must have value less than or equal to {_number_text(high)}")

    def timestamp(self, value: Any, path: str) -> None:
        if isinstance(value, bool):
            self.add(path, value, "Expected a timestamp, got a boolean", "type")
        elif isinstance(value, int | float):
            if not math.isfinite(value) or abs(value) > 253402300799:  # year 9999
                self.add(path, value, "Expected a timestamp between years 1 and 9999", "type")
        elif isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.add(path, value, "Expected an ISO 8601 timestamp or epoch seconds", "type")
        else:
            self.add(path, value, f"Expected a timestamp, got {_json_type(value)}", "type")

    def blob(self, value: Any, shape: Shape, path: str) -> None:
        if isinstance(value, bytes):
            size = len(value)
        elif isinstance(value, str):
            try:
                size = len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                self.add(path, value, "Expected base64-encoded bytes", "type")
                return
        else:
            self.add(path, value, f"Expected base64-encoded bytes, got {_json_type(value)}", "type")
            return
        self.size(value, size, shape, path)

    def size(self, value: Any, size: int, shape: Shape, path: str) -> bool:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.add(path, value, f"Member must have length greater than or equal to {low}")
            return False
        if high is not None and size > high:
            self.add(path, value, f"Member must have length less than or equal to {high}")
            return False
        return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
