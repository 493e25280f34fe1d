"""Hostile clients for localcloud: requests generated from AWS's own API models, and raw HTTP abuse.

Two hypothesis strategies:

- `api_requests`: a service and one of its operations, parameters drawn from the operation's input
  shape (botocore's model) with hostile values mixed in (names that climb out of folders, absolute
  paths, over-long and empty strings, wrong JSON types, huge and fractional numbers, lone
  surrogates, NUL bytes, deep nesting), serialized in the service's wire protocol the way an SDK
  would, with a SigV4-shaped Authorization header for a known or unknown region.
- `raw_requests`: bytes on a socket: odd methods and paths, lying or malformed Content-Length,
  chunked bodies with hostile chunk sizes, unknown targets, non-UTF-8 and deeply nested bodies.

`send` puts one request on a fresh connection and returns (status, seconds); it never hangs
longer than its timeout.
"""

from __future__ import annotations

import copy
import functools
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.serialize import create_serializer
from hypothesis import assume
from hypothesis import strategies as st

SERVICES = ("sagemaker", "s3", "iam", "sts", "ssm", "kms", "sns", "sqs", "events", "cloudwatch", "logs",
            "cloudformation", "lambda", "application-autoscaling")
_session = botocore.session.get_session()

HOSTILE_STRINGS = (
    "../../escape", "../../../../tmp/escape", "/etc/passwd", "/tmp/escape", "..", ".", "a/../../b", "a\\..\\b",
    "\x00", "nul\x00byte", "%2e%2e%2fescape", "", " ", "7", "-", "a" * 64, "b" * 300, "c" * 5000, "é" * 70,
    "\ud800", "line\nbreak", "<xml>&amp;", "' OR 1=1 --", "${jndi:ldap://x}", "s3://bucket/../../key",
    "arn:aws:iam::123456789012:role/../x", "🙂" * 40,
)
HOSTILE_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 7, 2**31, 2**63, -(2**63) - 1, 10**40, 1.5, -0.0, 1e308, [], {}, [None], {"": None},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], {"Get": "Parameters.X"},
    *HOSTILE_STRINGS,
)
REGIONS = ("us-east-1", "us-east-1", "us-east-1", "eu-west-1", "xx-nowhere-9", "", "us-east-1/extra")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    label: str

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"Request({self.label}: {self.method} {self.path[:200]!r} headers={list(self.headers)[:12]} "
                f"body={self.body[:300]!r}{'...' if len(self.body) > 300 else ''})")


# --------------------------------------------------------------------------------------------- models


@functools.cache
def _model(service: str) -> Any:
    return _session.get_service_model(service)


@functools.cache
def _operations(service: str) -> tuple[str, ...]:
    return tuple(sorted(_model(service).operation_names))


@functools.cache
def _python_pattern(text: str) -> str | None:
    """A pattern hypothesis can generate from (Python `re` syntax), or None."""
    if "\\p{" in text or "\\u" in text or "\\z" in text:
        return None
    try:
        re.compile(text)
    except re.error:
        return None
    return text


def _hostile() -> st.SearchStrategy[Any]:
    return st.sampled_from(HOSTILE_VALUES)


@functools.lru_cache(maxsize=4096)
def _strategy(service: str, shape_name: str, depth: int) -> st.SearchStrategy[Any]:
    shape = _model(service).shape_for(shape_name)
    return _for_shape(service, shape, depth)


def _member(service: str, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    return _strategy(service, shape.name, depth)


def _for_shape(service: str, shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if depth > 5:
        return st.none() | _hostile()
    if kind == "structure":
        members = shape.members
        required = {n: _member(service, members[n], depth + 1) for n in shape.required_members if n in members}
        optional = {n: _member(service, m, depth + 1) for n, m in members.items() if n not in required}
        # Required members are usually present (so requests get past "must not be null"), not always.
        return st.fixed_dictionaries({}, optional={**required, **optional}) | st.fixed_dictionaries(
            required, optional=optional) | st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        return st.lists(_member(service, shape.member, depth + 1), max_size=3) | _hostile()
    if kind == "map":
        return st.dictionaries(st.text(max_size=12) | st.sampled_from(HOSTILE_STRINGS),
                               _member(service, shape.value, depth + 1), max_size=3) | _hostile()
    if kind == "string":
        options: list[st.SearchStrategy[Any]] = [st.text(max_size=24), st.sampled_from(HOSTILE_STRINGS)]
        enum = getattr(shape, "enum", None)
        if enum:
            options += [st.sampled_from(list(enum))] * 3
        pattern = _python_pattern(shape.metadata.get("pattern") or "")
        if pattern:
            low, high = shape.metadata.get("min", 0), min(shape.metadata.get("max", 64), 256)
            generated = st.from_regex(pattern, fullmatch=True).filter(lambda s, lo=low, hi=high: lo <= len(s) <= hi)
            options += [generated] * 3
        return st.one_of(options) | _hostile()
    if kind in ("integer", "long"):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        return st.integers(min_value=low, max_value=high) | st.integers() | _hostile()
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False) | _hostile()
    if kind == "boolean":
        return st.booleans() | _hostile()
    if kind == "timestamp":
        return st.integers(min_value=0, max_value=2**33) | st.sampled_from(["2026-01-01T00:00:00Z", "yesterday"]) \
            | _hostile()
    if kind == "blob":
        return st.binary(max_size=64) | _hostile()
    return _hostile()


# --------------------------------------------------------------------------------------------- API requests


def _header_text(value: object) -> str:
    """A header value as sent: botocore leaves some generated values (booleans, numbers) unserialized."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _authorization(region: str, signing_name: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/{signing_name}/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")


def _stringify(value: Any) -> Any:
    """Scalars as text, for protocols whose serializers insist on the right Python types."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is None or isinstance(value, str | bytes):
        return value
    return str(value)


def _minimal(shape: Shape | None) -> dict[str, Any]:
    """The required members with plain placeholder values."""
    if shape is None:
        return {}
    out: dict[str, Any] = {}
    for name in shape.required_members:
        kind = shape.members[name].type_name
        out[name] = {"integer": 1, "long": 1, "boolean": True, "list": [], "map": {}, "structure": {},
                     "timestamp": 0, "blob": b"x"}.get(kind, "x1")
    return out


def _serialize(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
    model = _model(service)
    serializer = create_serializer(model.protocol if model.protocol != "smithy-rpc-v2-cbor" else "json",
                                   include_validation=False)
    op = model.operation_model(operation)
    for attempt in (params, _stringify(params), {**_minimal(op.input_shape), **_stringify(params)},
                    _minimal(op.input_shape)):
        try:
            return serializer.serialize_to_request(attempt, op)
        except Exception:  # the generated value does not fit what the serializer can write
            continue
    return None


@st.composite
def api_requests(draw: st.DrawFn) -> Request:
    service = draw(st.sampled_from(SERVICES))
    operation = draw(st.sampled_from(_operations(service)))
    op = _model(service).operation_model(operation)
    params = draw(_strategy(service, op.input_shape.name, 0)) if op.input_shape is not None else {}
    if not isinstance(params, dict):
        params = {}
    region = draw(st.sampled_from(REGIONS))
    model = _model(service)
    label = f"{service}.{operation}"
    if model.protocol in ("json", "smithy-rpc-v2-cbor"):
        # Any JSON at all: wrong types reach the server as they are.
        body = json.dumps(params, default=lambda o: o.hex() if isinstance(o, bytes) else str(o)).encode(
            "utf-8", "surrogatepass")
        prefix = model.metadata["targetPrefix"]
        headers = [("X-Amz-Target", f"{prefix}.{operation}"),
                   ("Content-Type", f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}")]
        method, path = "POST", "/"
    else:
        serialized = _serialize(service, operation, params)
        assume(serialized is not None)
        assert serialized is not None
        body = serialized["body"] if isinstance(serialized["body"], bytes) else str(serialized["body"] or "").encode(
            "utf-8", "surrogatepass")
        method = serialized["method"]
        query = serialized.get("query_string")
        path = serialized["url_path"] or "/"
        if isinstance(query, dict) and query:
            from urllib.parse import urlencode

            path += ("&" if "?" in path else "?") + urlencode(query, doseq=True, errors="surrogatepass")
        elif isinstance(query, str) and query:
            path += ("&" if "?" in path else "?") + query
        headers = [(k, _header_text(v)) for k, v in serialized["headers"].items()
                   if k.lower() not in ("content-length", "host") and v is not None]  # None: a header left unset
        if model.protocol == "query":
            headers.append(("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"))
    if draw(st.integers(0, 9)) > 0:  # mostly signed; sometimes unsigned, as moto allows
        headers.append(("Authorization", _authorization(region, model.signing_name)))
    return Request(method, path, tuple(headers), body, label)


# --------------------------------------------------------------------------------------------- raw requests

_TARGETS = ("SageMaker.CreateProcessingJob", "SageMaker.CreatePipeline", "SageMaker.NoSuchAction",
            "SageMaker.", "Nonsense.Thing", "", "AmazonSQS.SendMessage", "GraniteServiceVersion20100801.PutMetricData",
            "Logs_20140328.PutLogEvents", "AWSEvents.PutEvents")
_PATHS = ("/", "/endpoints/x/invocations", "/endpoints/../../x/invocations", "/bucket-name/key", "/bucket-name",
          "/_localcloud/health", "/moto-api/data.json", "//", "/%2e%2e/%2e%2e/etc/passwd", "/a" * 200,
          "/endpoints/%00/invocations", "/2015-03-31/functions/x/invocations", "/?list-type=2")
_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "PROPFIND", "TRACE", "CONNECT", "FOO")
_CHUNK_SIZES = ("ffffffff", "fffffffff", "7fffffffffffffff", "-1", "zz", "0", "1;ext=1", "10", " 5", "5 ", "")
_BODIES = (b"", b"{}", b"[]", b"null", b"\xff\xfe\xfa", b'{"a": ' * 2000 + b"1" + b"}" * 2000,
           b"[" * 100_000, b"9" * 5000, b'{"PipelineName": 7}', b"Action=ListRoles&Version=2010-05-08",
           b"Action=%FF&Version=x", b"<xml>" * 1000, b"\x00" * 100)


@st.composite
def raw_requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(_METHODS))
    path = draw(st.sampled_from(_PATHS) | st.text(min_size=1, max_size=40).map(
        lambda t: "/" + t.encode("utf-8", "surrogatepass").decode("latin-1").replace("\r", "").replace("\n", "")
        .replace(" ", "%20")))
    body = draw(st.sampled_from(_BODIES) | st.binary(max_size=256))
    headers: list[tuple[str, str]] = []
    if draw(st.booleans()):
        headers.append(("X-Amz-Target", draw(st.sampled_from(_TARGETS))))
    if draw(st.booleans()):
        region = draw(st.sampled_from(REGIONS))
        service = draw(st.sampled_from(("sagemaker", "s3", "iam", "sqs", "monitoring", "logs", "nonsense", "")))
        headers.append(("Authorization", _authorization(region, service)))
    headers.append(("Content-Type", draw(st.sampled_from((
        "application/x-amz-json-1.1", "application/x-www-form-urlencoded", "text/csv", "application/json",
        "multipart/form-data; boundary=x", "", "\x7f")))))
    for name, values in (("x-amz-copy-source", ("bucket-name/key", "%", "/", "../../x")),
                         ("Range", ("bytes=0-1", "bytes=abc", "bytes=-", "lines=1-2", "bytes=99999999999999999999-")),
                         ("x-amz-acl", ("private", "weird")), ("If-Modified-Since", ("yesterday", "0")),
                         ("x-amz-meta-my_key", ("v",)), ("Expect", ("100-continue", "nothing"))):
        if draw(st.integers(0, 7)) == 0:
            headers.append((name, draw(st.sampled_from(values))))
    framing = draw(st.sampled_from(("length", "length", "lie-more", "lie-less", "abc", "negative", "chunked",
                                    "none")))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "lie-more":
        headers.append(("Content-Length", str(len(body) + 10)))
    elif framing == "lie-less":
        headers.append(("Content-Length", str(max(0, len(body) - 1))))
    elif framing == "abc":
        headers.append(("Content-Length", "abc"))
    elif framing == "negative":
        headers.append(("Content-Length", "-1"))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        size = draw(st.sampled_from(_CHUNK_SIZES))
        body = f"{size}\r\n".encode() + body[:32] + b"\r\n0\r\n\r\n"
    return Request(method, path, tuple(headers), body, f"raw {framing}")


# --------------------------------------------------------------------------------------------- sending


def send(port: int, request: Request, timeout: float = 10.0) -> tuple[int | None, float]:
    """One request on a fresh connection; (status or None if the server closed without one, seconds)."""
    started = time.monotonic()
    head = f"{request.method} {request.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head.encode("latin-1", "replace") + b"\r\n" + request.body)
            sock.shutdown(socket.SHUT_WR)  # a lying Content-Length ends here instead of at the idle timeout
        except OSError:
            pass  # the server may answer (and close) before it has read everything
        response = http.client.HTTPResponse(sock, method=request.method)
        try:
            response.begin()
            response.read()
            status: int | None = response.status
        except (http.client.HTTPException, ConnectionError):
            status = None
        finally:
            response.close()
    return status, time.monotonic() - started


# --------------------------------------------------------------------------------------------- pipelines

FUZZ_PIPELINE = "fuzz-target"
"""A pipeline the fuzzing fixture creates, so StartPipelineExecution has something to start."""
FUZZ_ROLE = "arn:aws:iam::123456789012:role/fuzz"
_UNRUNNABLE_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/not-a-framework-image:1"


def base_definition() -> dict[str, Any]:
    """A valid definition: typed parameters, a Processing step (an image localcloud will not run), a gate."""
    processing = {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": {
            "Get": "Parameters.Count"}, "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": _UNRUNNABLE_IMAGE, "ContainerEntrypoint": ["python3", "-c", "pass"]},
        "RoleArn": FUZZ_ROLE,
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://fuzz-bucket",
                                                         {"Get": "Execution.PipelineExecutionId"}]}},
            "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}]},
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Count", "Type": "Integer", "DefaultValue": 1},
                       {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
                       {"Name": "Mode", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]},
                       {"Name": "Flag", "Type": "Boolean", "DefaultValue": False}],
        "Steps": [
            {"Name": "Prep", "Type": "Processing", "Arguments": processing,
             "PropertyFiles": [{"PropertyFileName": "Report", "OutputName": "out", "FilePath": "r.json"}]},
            {"Name": "Gate", "Type": "Condition", "Arguments": {
                "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": {"Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Report"}, "Path": "a.b"}},
                    "RightValue": {"Get": "Parameters.Threshold"}}],
                "IfSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}],
                "ElseSteps": []}},
        ],
    }


_RAW_LITERALS = ("9" * 5000, "1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity", "[" * 1000 + "]" * 1000,
                 '{"a":' * 200 + "1" + "}" * 200, "null", "true", '"\\ud800"', "{}", "[]", '""', "-0",
                 str(2**64), "1.5", '{"Get": "Steps.Nope.Outputs"}', '{"Std:Join": {"On": 7, "Values": 7}}')
_MARKER = "\u2603MUTATION\u2603"


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def definition_requests(draw: st.DrawFn) -> Request:
    """CreatePipeline with one node of a valid definition replaced by a hostile value or raw JSON literal,
    or StartPipelineExecution of the fuzzing pipeline with hostile parameter values."""
    model = _model("sagemaker")
    if draw(st.booleans()):
        definition = base_definition()
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(_paths(definition)[1:]))
            node = definition
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = copy.deepcopy(draw(st.sampled_from(HOSTILE_VALUES) | st.just(_MARKER)))
        text = json.dumps(definition, default=str)
        text = text.replace(json.dumps(_MARKER), draw(st.sampled_from(_RAW_LITERALS)))
        name = draw(st.from_regex(r"fz[a-z0-9]{1,20}", fullmatch=True))
        params: dict[str, Any] = {"PipelineName": name, "RoleArn": FUZZ_ROLE, "PipelineDefinition": text}
        operation = "CreatePipeline"
    else:
        values = draw(st.lists(st.tuples(
            st.sampled_from(["Count", "Threshold", "Mode", "Flag", "Nope", ""]),
            st.sampled_from(["9" * 5000, "9" * 25, "1e400", "nan", "inf", "-1", "b", "true", "TRUE", "", " 7 "])
            | st.text(max_size=10)), max_size=4))
        params = {"PipelineName": FUZZ_PIPELINE, "ClientRequestToken": draw(st.from_regex(r"[a-z0-9]{32}",
                                                                                          fullmatch=True)),
                  "PipelineParameters": [{"Name": n, "Value": v} for n, v in values]}
        operation = "StartPipelineExecution"
    body = json.dumps(params).encode("utf-8", "surrogatepass")
    headers = (("X-Amz-Target", f"SageMaker.{operation}"), ("Content-Type", "application/x-amz-json-1.1"),
               ("Authorization", _authorization("us-east-1", model.signing_name)))
    return Request("POST", "/", headers, body, f"sagemaker.{operation} (hostile definition)")
