"""SageMaker Runtime `InvokeEndpoint`: route a request to the right variant's model server.

This sits on every inference request, so it is a bare WSGI handler: no Flask, no
moto dispatch, a kept-alive connection per thread to each model server, and metrics
and capture handed to background sinks.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from moto.core import DEFAULT_ACCOUNT_ID

from localcloud.api import errors
from localcloud.api.errors import ApiError
from localcloud.api.gate import bad_region, check_rest_call
from localcloud.api.identify import DEFAULT_REGION, credential_scope
from localcloud.api.models import region_known
from localcloud.sagemaker import capture, metrics

MAX_PAYLOAD = 6 * 1024 * 1024
FORWARDED_HEADERS = {
    "CONTENT_TYPE": "Content-Type",
    "HTTP_ACCEPT": "Accept",
    "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES": "X-Amzn-SageMaker-Custom-Attributes",
    "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID": "X-Amzn-SageMaker-Inference-Id",
}


class InvocationRouter:
    """WSGI handler for `POST /endpoints/<name>/invocations`."""

    def __init__(self, backends: Any = None):
        if backends is None:
            from moto.sagemaker.models import sagemaker_backends as backends
        self.backends = backends

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            return self._invoke(environ, start_response, started)
        except ApiError as e:
            status, headers, body = errors.render(e, "rest-json")
            start_response(status, headers)
            return [body]

    def _invoke(self, environ: dict, start_response: Callable[..., Any], started: float) -> Iterable[bytes]:
        region = _region(environ)
        if not region_known("sagemaker-runtime", region):
            raise bad_region(region, "rest-json")
        parts = environ["PATH_INFO"].split("/")
        if len(parts) != 4 or parts[3] != "invocations":
            raise ApiError(404, "UnknownOperationException", "SageMaker Runtime has no operation at this path")
        name = unquote(parts[2])
        check_rest_call("sagemaker-runtime", "InvokeEndpoint", environ, {"EndpointName": name})
        raw_length = environ.get("CONTENT_LENGTH") or "0"
        if not raw_length.isdigit():
            raise ApiError(400, "ValidationError", f"Content-Length {raw_length[:32]!r} is not a number")
        length = int(raw_length)
        if length > MAX_PAYLOAD:
            raise ApiError(413, "ValidationError",
                           f"Request payload of {length} bytes exceeds the 6 MB limit of InvokeEndpoint.")
        backend = self.backends[DEFAULT_ACCOUNT_ID][region]
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ApiError(400, "ValidationError", f"Endpoint {name} of account {DEFAULT_ACCOUNT_ID} not found.")
        deployment = backend.fleet.route(name)
        if deployment is None:
            raise ApiError(400, "ValidationError", f"Endpoint {name} of account {DEFAULT_ACCOUNT_ID} is not in "
                                                   f"service (status {endpoint.endpoint_status}).")
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            server = deployment.pick(environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"))
        except LookupError as e:
            raise ApiError(400, "ValidationError", str(e)) from None
        headers = {out: environ[key] for key, out in FORWARDED_HEADERS.items() if environ.get(key)}
        sent = time.perf_counter()
        status, reply, reply_headers = _forward(server, body, headers)
        model_us = (time.perf_counter() - sent) * 1e6
        content_type = reply_headers.get("content-type", "application/octet-stream")
        if deployment.data_capture and capture.should_capture(deployment.data_capture):
            capture.record(region, deployment.data_capture, name, server.variant, body,
                           headers.get("Content-Type", "application/octet-stream"), reply, content_type,
                           headers.get("X-Amzn-SageMaker-Inference-Id"))
        overhead_us = (time.perf_counter() - started) * 1e6 - model_us
        metrics.record(region, name, server.variant, server.updated_config, status, model_us, max(overhead_us, 0.0))
        if status != 200:
            kind = "client" if 400 <= status < 500 else "server"
            text = reply.decode("utf-8", "replace")[:1024]
            log_arn = (f"arn:aws:logs:{region}:{DEFAULT_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}")
            raise ApiError(424, "ModelError",
                           f'Received {kind} error ({status}) from primary with message "{text}". '
                           f"See the model server log of endpoint {name} for more information.",
                           extra={"OriginalStatusCode": status, "OriginalMessage": text, "LogStreamArn": log_arn})
        out = [("Content-Type", content_type), ("Content-Length", str(len(reply))),
               ("x-Amzn-Invoked-Production-Variant", server.variant)]
        custom = reply_headers.get("x-amzn-sagemaker-custom-attributes")
        if custom:
            out.append(("X-Amzn-SageMaker-Custom-Attributes", custom))
        start_response("200 OK", out)
        return [reply]


def _forward(server: Any, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """POST to the model server, reconnecting once if a kept-alive connection went stale."""
    for attempt in (1, 2):
        conn = server.connection()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, data, {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as e:
            server.drop_connection()
            if attempt == 2:
                raise ApiError(424, "ModelError", f"Received server error (0) from {server.variant}: the model "
                                                  f"server did not answer ({e}).",
                               extra={"OriginalStatusCode": 0}) from None
    raise AssertionError("unreachable")


def _region(environ: dict) -> str:
    """The region of the SigV4 credential scope; unsigned calls go to moto's default region."""
    scope = credential_scope(environ)
    return scope[0] if scope else DEFAULT_REGION
