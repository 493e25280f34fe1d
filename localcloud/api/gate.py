"""WSGI middleware in front of moto: a request AWS would refuse is answered as AWS answers it.

For each request to one of localcloud's services it checks, in AWS's order: the region of the
credential scope exists, the operation exists, the parameters can be read, and they satisfy the
operation's input shape (required members, types, lengths, ranges, patterns, enums). Only then
does moto see the request. So a job name like `../../x` is refused with the pattern it breaks
before any backend could turn it into a folder, and malformed input gets a 400 naming the member
instead of an exception inside moto.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import zlib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.parsers.expat import ExpatError

from localcloud import aws, backplane
from localcloud.api import decode, errors, models, service_rules, shapes
from localcloud.api.errors import ApiError
from localcloud.api.identify import ApiCall, credential_scope, identify
from localcloud.api.models import region_known

__all__ = ["MAX_RPC_BODY", "ApiGate", "bad_region", "check_rest_call", "problems_error"]

log = logging.getLogger("localcloud.api")

MAX_RPC_BODY = 16 * 1024 * 1024
"""JSON and query requests larger than this are refused before decoding (AWS's largest, a
pipeline definition or a batch of metrics or log events, stay near 1 MB)."""

_S3_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})

# The error codes AWS uses for unreadable input and for broken constraints, by protocol.
_CODES = {
    "json": ("SerializationException", "ValidationException"),
    "rest-json": ("SerializationException", "ValidationException"),
    "query": ("ValidationError", "ValidationError"),
    "rest-xml": ("InvalidArgument", "InvalidArgument"),
}


def problems_error(problems: list[shapes.Problem], protocol: str) -> ApiError:
    """One error for all problems, worded as AWS words validation errors."""
    unreadable, invalid = _CODES.get(protocol, _CODES["json"])
    typed = [p for p in problems if p.kind == "type"]
    if typed:
        return ApiError(400, unreadable, "; ".join(p.sentence() for p in typed))
    return ApiError(400, invalid, shapes.summary(problems))


class ApiGate:
    """Checks requests against the AWS API model before `app` (moto) sees them."""

    def __init__(self, app: Callable[..., Iterable[bytes]], before: Callable[[str], None] | None = None):
        self.app = app
        self.before = before
        """Called with the service's name before a checked request reaches `app` (to wait for its backend)."""

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        body: list[bytes] = []

        def read_body() -> bytes:
            if not body:
                body.append(_read_body(environ))
            return body[0]

        def form() -> dict[str, str]:
            return decode.query_fields(read_body(), "")

        call: ApiCall | None = None
        operation = "?"
        try:
            call = identify(environ, form)
            if call is not None:
                operation = self.check(call, environ, read_body)
            else:
                scope = credential_scope(environ)
                target = environ.get("HTTP_X_AMZ_TARGET")
                if scope is None and target is not None and not models.moto_serves_unsigned(target):
                    raise ApiError(400, "UnknownOperationException",
                                   f"no service has the operation {target[:100]!r} (X-Amz-Target)")
                if scope is not None and not (models.moto_serves(scope[1]) and region_known(None, scope[0])):
                    raise ApiError(400, "UnrecognizedClientException",
                                   f"localcloud does not serve a service signed as {scope[1][:64]!r} in region "
                                   f"{scope[0][:64]!r} (the request's credential scope)")
            if call is not None and call.service.name not in aws.OWN_SERVICES and aws.backplane():
                raise backplane.refusal(call.service.model.service_id, str(aws.backplane()))
            if call is not None and self.before is not None:
                self.before(call.service.name)
            try:
                return self.app(environ, start_response)
            except (ExpatError, json.JSONDecodeError, RecursionError) as e:
                # moto failed to parse a body our checks let through (their shapes do not cover XML
                # bodies, nor JSON documents inside strings, nor bodies AWS ignores): the caller's
                # input, not our bug. The traceback still goes to the log, in case it is.
                log.warning("moto could not read a %s request's body", operation, exc_info=True)
                code = "MalformedXML" if isinstance(e, ExpatError) else "SerializationException"
                what = "nests too deeply" if isinstance(e, RecursionError) else f"is malformed ({e})"
                raise ApiError(400, code, f"The request body could not be read: it {what}") from None
            except NotImplementedError:
                # moto has no such operation (or no such variant of one): say so as AWS says
                # "not implemented", never as an internal error.
                service = call.service.model.service_id if call is not None else "this service"
                log.info("not implemented: %s %s", service, operation)
                raise ApiError(501, "NotImplemented", f"localcloud does not implement {service} "
                                                      f"{operation} (moto has no backend for it)",
                               sender=False) from None
        except ApiError as e:
            protocol = call.protocol if call is not None else _guess_protocol(environ)
            status, headers, payload = errors.render(e, "json" if protocol == "cbor" else protocol)
            start_response(status, headers)
            return [payload]

    def check(self, call: ApiCall, environ: dict, read_body: Callable[[], bytes]) -> str:
        """The operation's name, once the request has passed every check (ApiError otherwise)."""
        service = call.service
        if call.region_given and not region_known(service.name, call.region):
            raise bad_region(call.region, call.protocol)
        method = environ.get("REQUEST_METHOD", "GET")
        unread: set[str] = set()
        if call.protocol in ("json", "query") and _gzipped(environ):  # botocore gzips PutMetricData over 10 KB
            read_body = functools.partial(_inflate, read_body)
        if call.protocol == "cbor":
            return environ.get("PATH_INFO", "").rsplit("/", 1)[-1]  # CloudWatch's RPCv2 CBOR: left to moto
        if call.protocol == "json":
            operation = service.operation(call.target or "")
            if operation is None:
                raise ApiError(400, "UnknownOperationException",
                               f"{service.model.service_id} has no operation {call.target!r}")
            params = decode.json_body(read_body())
            problems: list[shapes.Problem] = []
        elif call.protocol == "query":
            fields = decode.query_fields(read_body(), environ.get("QUERY_STRING", ""))
            action = fields.get("Action")
            if not action:
                raise ApiError(400, "MissingAction", "The request must contain the parameter Action.")
            operation = service.operation(action)
            if operation is None:
                raise ApiError(400, "InvalidAction", f"The action {action} is not valid for this web service.")
            params, problems = decode.unflatten(fields, operation.input_shape)
        else:
            if service.name == "s3" and method not in _S3_METHODS:
                raise ApiError(405, "MethodNotAllowed", f"The specified method {method} is not allowed "
                                                        f"against this resource.")
            query = _query(environ)
            headers = _headers(environ)
            found = decode.match_rest(service, method, environ.get("PATH_INFO", "/"), query, headers)
            if found is None:
                form_upload = (method == "POST" and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")
                               and environ.get("PATH_INFO", "/").strip("/").count("/") == 0)
                if service.name == "s3" and not form_upload:
                    # (a browser's form upload, POST /bucket, is the one S3 request no SDK operation describes)
                    raise ApiError(405, "MethodNotAllowed", f"The specified method {method} is not allowed "
                                                            f"against this resource.")
                if form_upload:
                    service_rules.check_s3_form_upload(environ, read_body(), MAX_RPC_BODY)
                if call.protocol == "rest-json":
                    raise ApiError(404, "UnknownOperationException",
                                   f"{service.model.service_id} has no operation for {method} "
                                   f"{environ.get('PATH_INFO', '/')[:200]}")
                return f"{method} {environ.get('PATH_INFO', '/')}"  # S3's browser form upload: moto's
            operation, labels = found
            json_body = None
            if call.protocol == "rest-json" and _has_json_body(operation):
                json_body = decode.json_body(read_body())
            params, problems = decode.rest_params(operation, labels, query, headers, json_body)
            if not problems:
                service_rules.check(service.name, operation.name, params, headers)
            if json_body is None and operation.input_shape is not None:
                # An XML or blob body is moto's to read: its members are not here to be found missing.
                unread = {shapes.member_path("", name) for name, member in operation.input_shape.members.items()
                          if not member.serialization.get("location")}
        if operation.input_shape is not None and not problems:
            problems = [p for p in shapes.check(params, operation.input_shape) if p.path.split(".")[0] not in unread]
        if problems:
            raise problems_error(problems, call.protocol)
        return operation.name


def check_rest_call(service_name: str, operation_name: str, environ: dict, labels: dict[str, str]) -> None:
    """Check a REST request whose operation the caller already knows (SageMaker Runtime's hot path).

    URI labels, headers and query string only: the body is the caller's business.
    """
    operation = models.service(service_name).operation(operation_name)
    assert operation is not None, operation_name
    params, problems = decode.rest_params(operation, labels, _query(environ), _headers(environ), None)
    if not problems and operation.input_shape is not None:
        problems = [p for p in shapes.check(params, operation.input_shape) if p.path != "body"]
    if problems:
        raise problems_error(problems, "rest-json")


def bad_region(region: str, protocol: str) -> ApiError:
    message = f"Credential should be scoped to a valid region, not '{region[:64]}'."
    if protocol == "rest-xml":
        return ApiError(400, "AuthorizationHeaderMalformed", message)
    if protocol == "query":
        return ApiError(403, "SignatureDoesNotMatch", message)
    return ApiError(403, "InvalidSignatureException", message)


def _gzipped(environ: dict) -> bool:
    return "gzip" in [e.strip().lower() for e in str(environ.get("HTTP_CONTENT_ENCODING", "")).split(",")]


def _inflate(read_body: Callable[[], bytes]) -> bytes:
    """A gzip request body, decompressed for checking (moto decompresses it again), within the body limit."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(read_body(), MAX_RPC_BODY + 1)
    except zlib.error:
        raise ApiError(400, "SerializationException", "The request body is not valid gzip "
                                                      "(its Content-Encoding says gzip)") from None
    if len(data) > MAX_RPC_BODY or inflater.unconsumed_tail:
        raise ApiError(413, "RequestEntityTooLarge",
                       f"The request body decompresses to more than the {MAX_RPC_BODY} byte limit of this API")
    return data


def _read_body(environ: dict) -> bytes:
    """The whole body (bounded), left in place for moto to read again."""
    raw_length = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        raise ApiError(400, "BadRequest", f"Content-Length {raw_length[:32]!r} is not a number") from None
    if length < 0:
        raise ApiError(400, "BadRequest", "Content-Length must not be negative")
    if length > MAX_RPC_BODY:
        raise ApiError(413, "RequestEntityTooLarge",
                       f"Request body of {length} bytes exceeds the {MAX_RPC_BODY} byte limit of this API")
    data = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return data


def _query(environ: dict) -> dict[str, list[str]]:
    try:
        return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="strict",
                        max_num_fields=decode.MAX_FIELDS)
    except (UnicodeError, ValueError):
        raise ApiError(400, "InvalidArgument", "The query string cannot be read") from None


def _headers(environ: dict) -> dict[str, str]:
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.replace("_", "-").lower()] = environ[key]
    return out


def _has_json_body(operation: Any) -> bool:
    shape = operation.input_shape
    if shape is None:
        return False
    payload = shape.serialization.get("payload")
    if payload:
        return shape.members[payload].type_name == "structure"
    return any("location" not in m.serialization for m in shape.members.values())


def _guess_protocol(environ: dict) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-xml"
