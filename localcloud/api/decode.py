"""Turn a request's wire form back into the parameters an SDK serialized, per AWS protocol.

The inverse of botocore's serializers, for checking only (moto parses the request again):

- JSON protocol: the body is the input structure.
- Query protocol: `Action=...&Tags.member.1.Key=...` form fields, unflattened along the shape.
- REST protocols: members bound to the URI, headers and query string, found by matching the
  request against each operation's `requestUri` template; REST-JSON bodies as JSON.

Every failure to read is an `ApiError` naming what could not be read. Sizes are bounded before
anything is decoded: the caller passes bodies already limited by the HTTP front.
"""

from __future__ import annotations

import email.utils
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, Shape

from localcloud.api.errors import ApiError
from localcloud.api.models import Service
from localcloud.api.shapes import Problem, member_path

__all__ = ["MAX_FIELDS", "Node", "json_body", "match_rest", "query_fields", "rest_params", "unflatten"]

MAX_FIELDS = 5000
"""Query-protocol requests with more form fields than this are refused (AWS's largest need a few hundred)."""


def _malformed(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(raw: bytes, code: str = "SerializationException") -> dict[str, Any]:
    """A JSON request body as an object; `{}` for an empty body."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _malformed(code, f"The request body is not valid UTF-8 (byte {e.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _malformed(code, "The request body nests too deeply to be read") from None
    except ValueError as e:  # JSONDecodeError, and integers beyond Python's digit limit
        raise _malformed(code, f"The request body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise _malformed(code, "The request body must be a JSON object")
    return value


def query_fields(raw: bytes, query_string: str) -> dict[str, str]:
    """Form fields of a query-protocol request (body and URL query), strictly UTF-8."""
    fields: dict[str, str] = {}
    for source in (query_string.encode("latin-1", "replace"), raw):
        if not source:
            continue
        try:
            text = source.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                              max_num_fields=MAX_FIELDS)
        except UnicodeError:
            raise _malformed("MalformedQueryString", "The query string is not valid percent-encoded UTF-8") from None
        except ValueError:
            raise _malformed("MalformedQueryString", f"The request has more than {MAX_FIELDS} parameters") from None
        if len(fields) + len(pairs) > MAX_FIELDS:
            raise _malformed("MalformedQueryString", f"The request has more than {MAX_FIELDS} parameters")
        fields.update(pairs)
    return fields


# ---------------------------------------------------------------------------------------------- query


@dataclass
class Node:
    """Form fields as a tree: `A.member.1.B=x` is node A -> member -> 1 -> B with value x."""

    value: str | None = None
    children: dict[str, Node] = field(default_factory=dict)

    @classmethod
    def build(cls, fields: Mapping[str, str]) -> Node:
        root = cls()
        for key, value in fields.items():
            node = root
            for part in key.split("."):
                node = node.children.setdefault(part, cls())
            node.value = value
        return root


def unflatten(fields: Mapping[str, str], shape: Shape | None) -> tuple[dict[str, Any], list[Problem]]:
    """The input structure the query serializer flattened into `fields`, and values that did not convert."""
    if shape is None:
        return {}, []
    problems: list[Problem] = []
    value = _query_value(Node.build(fields), shape, "", problems, 0)
    return (value if isinstance(value, dict) else {}), problems


def _query_value(node: Node, shape: Shape, path: str, problems: list[Problem], depth: int) -> Any:
    if depth > 32:
        return None
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            child = node.children.get(member.serialization.get("name", name))
            if child is not None:
                out[name] = _query_value(child, member, member_path(path, name), problems, depth + 1)
        return out
    if kind == "list":
        flattened = shape.serialization.get("flattened")
        container = node if flattened else node.children.get(shape.member.serialization.get("name", "member"))
        if container is None:
            return [] if node.value == "" else None
        items = []
        for index in _indices(container):
            items.append(_query_value(container.children[index], shape.member, f"{path}.{index}.member",
                                      problems, depth + 1))
        return items
    if kind == "map":
        container = node if shape.serialization.get("flattened") else node.children.get("entry")
        if container is None:
            return {}
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        mapping: dict[str, Any] = {}
        for index in _indices(container):
            entry = container.children[index]
            key = entry.children.get(key_name)
            if key is None or key.value is None:
                continue
            item = entry.children.get(value_name)
            mapping[key.value] = None if item is None else _query_value(
                item, shape.value, f"{path}.{key.value}", problems, depth + 1)
        return mapping
    if node.value is None:
        return None
    return scalar(node.value, shape, path, problems)


def _indices(container: Node) -> list[str]:
    return sorted((k for k in container.children if k.isdigit() and len(k) <= 9), key=int)


def scalar(text: str, shape: Shape, path: str, problems: list[Problem], timestamp_format: str = "iso8601") -> Any:
    """A string from a form field, header or URI as the shape's type; a problem if it is not one."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text.strip()) if text.strip().lstrip("+-").isdigit() and len(text) < 40 else _bad()
        if kind in ("float", "double"):
            return float(text) if len(text) < 64 else _bad()
        if kind == "boolean":
            lowered = text.strip().lower()
            return lowered == "true" if lowered in ("true", "false") else _bad()
        if kind == "timestamp":
            _timestamp(text, shape.serialization.get("timestampFormat", timestamp_format))
            return text
    except ValueError:
        noun = {"integer": "an integer", "long": "an integer", "boolean": "true or false",
                "timestamp": "a timestamp"}.get(kind, "a number")
        problems.append(Problem(path or "input", text, f"Value '{text[:64]}' is not {noun}", "type"))
        return None
    return text


def _bad() -> Any:
    raise ValueError


def _timestamp(text: str, fmt: str) -> None:
    stripped = text.strip()
    if fmt == "rfc822":
        if email.utils.parsedate_to_datetime(stripped) is None:
            raise ValueError
        return
    if fmt == "unixTimestamp" or stripped.replace(".", "", 1).isdigit():
        float(stripped)
        return
    datetime.fromisoformat(stripped.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------- REST


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    segments: tuple[str, ...]
    query: tuple[tuple[str, str | None], ...]
    literals: int


@functools.cache
def _routes(service: Service) -> tuple[_Route, ...]:
    routes = []
    for name in service.model.operation_names:
        http = service.model.operation_model(name).http
        path, _, query = http.get("requestUri", "/").partition("?")
        segments = tuple(s for s in path.strip("/").split("/") if s)
        literal_query = []
        for item in query.split("&"):
            if item and not item.startswith("x-id="):
                key, sep, value = item.partition("=")
                literal_query.append((key, value if sep else None))
        literals = sum(1 for s in segments if not s.startswith("{"))
        routes.append(_Route(name, http.get("method", "POST"), segments, tuple(literal_query), literals))
    return tuple(routes)


def _bind(route: _Route, parts: list[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for index, segment in enumerate(route.segments):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = parts[index:]
            if not rest or not "/".join(rest):
                return None
            labels[segment[1:-2]] = unquote("/".join(rest))
            return labels if index == len(route.segments) - 1 else None
        if index >= len(parts):
            return None
        if segment.startswith("{"):
            if not parts[index]:
                return None
            labels[segment[1:-1]] = unquote(parts[index])
        elif segment != parts[index]:
            return None
    return labels if len(parts) == len(route.segments) else None


def match_rest(service: Service, method: str, path: str, query: Mapping[str, list[str]],
               headers: Mapping[str, str]) -> tuple[OperationModel, dict[str, str]] | None:
    """The operation a REST request calls and its URI labels, or None when none matches.

    Among templates that fit, the one with the most literal path segments and query keys wins;
    ties go to the operation whose required URI, header and query members are all present (S3's
    CopyObject and PutObject share a URI; only CopyObject requires `x-amz-copy-source`).
    """
    parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
    best: tuple[tuple[int, int, int], OperationModel, dict[str, str]] | None = None
    for route in _routes(service):
        if route.method != method:
            continue
        if any(key not in query or (value is not None and value not in query[key]) for key, value in route.query):
            continue
        labels = _bind(route, parts)
        if labels is None:
            continue
        operation = service.model.operation_model(route.operation)
        present = _required_bound_members(operation, labels, query, headers)
        if present is None:
            continue
        score = (route.literals, len(route.query), present)
        if best is None or score > best[0]:
            best = (score, operation, labels)
    return (best[1], best[2]) if best else None


def _required_bound_members(operation: OperationModel, labels: Mapping[str, str],
                            query: Mapping[str, list[str]], headers: Mapping[str, str]) -> int | None:
    """How many required URI/header/query members are present; None if one is missing."""
    shape = operation.input_shape
    if shape is None:
        return 0
    count = 0
    for name in shape.required_members:
        member = shape.members[name]
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri":
            found = wire in labels
        elif where == "header":
            found = wire.lower() in headers
        elif where == "querystring":
            found = wire in query
        else:
            continue
        if not found:
            return None
        count += 1
    return count


def rest_params(operation: OperationModel, labels: Mapping[str, str], query: Mapping[str, list[str]],
                headers: Mapping[str, str], body: dict[str, Any] | None) -> tuple[dict[str, Any], list[Problem]]:
    """The input members a REST request carries in its URI, headers, query string and (JSON) body."""
    shape = operation.input_shape
    problems: list[Problem] = []
    if shape is None:
        return {}, problems
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        path = member_path("", name)
        if where == "uri":
            if wire in labels:
                params[name] = scalar(labels[wire], member, path, problems)
        elif where == "header":
            if wire.lower() in headers and member.type_name not in ("list", "map"):
                params[name] = scalar(headers[wire.lower()], member, path, problems, "rfc822")
        elif where == "headers":
            prefix = wire.lower()
            params[name] = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
        elif where == "querystring":
            if member.type_name == "list" and wire in query:
                params[name] = [scalar(v, member.member, f"{path}.{i}.member", problems)
                                for i, v in enumerate(query[wire], start=1)]
            elif member.type_name == "map":
                continue
            elif wire in query:
                params[name] = scalar(query[wire][-1], member, path, problems)
        elif body is not None and name != payload:
            if name in body:
                params[name] = body[name]
        elif body is not None and name == payload and member.type_name == "structure":
            params[name] = body
    return params, problems
