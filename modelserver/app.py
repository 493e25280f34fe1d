"""The bare ASGI application: SageMaker's inference HTTP contract and nothing else.

Routes: ``GET /ping`` (200 while healthy), ``POST /invocations`` and ``GET /execution-parameters``
(asked by batch transform). No framework: routing is two string comparisons, response headers
are prebuilt, and nothing is logged per request unless it fails, because at thousands of requests
per second every microsecond on this path is visible in the benchmark.

Error bodies are one line of plain text: SageMaker's runtime passes the container's body to the
caller as the ModelError's OriginalMessage, so the sentence is what the caller will read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from modelserver.errors import InvocationError, PayloadTooLarge, short
from modelserver.invocation import Invoker

log = logging.getLogger("modelserver")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TEXT = b"text/plain; charset=utf-8"
_PING_OK = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_EMPTY_BODY = {"type": "http.response.body", "body": b""}


class InferenceApp:
    """ASGI callable serving one Invoker."""

    def __init__(self, invoker: Invoker, *, max_payload_bytes: int, workers: int):
        self.invoker = invoker
        self.max_payload = max_payload_bytes
        self.workers = workers
        self._content_types: dict[str, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; nothing else is served
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations":
            if method == "POST":
                await self.invocations(scope, receive, send)
            else:
                await self.error(send, 405, "use POST /invocations", allow=b"POST")
        elif path == "/ping":
            if method in ("GET", "HEAD"):
                await self.ping(send)
            else:
                await self.error(send, 405, "use GET /ping", allow=b"GET, HEAD")
        elif path == "/execution-parameters":
            if method == "GET":
                await self.execution_parameters(send)
            else:
                await self.error(send, 405, "use GET /execution-parameters", allow=b"GET")
        else:
            await self.error(send, 404, f"no route {path}: use POST /invocations or GET /ping")

    async def ping(self, send: Send) -> None:
        stuck = self.invoker.batcher.stuck_for()
        if stuck > self.invoker.timeout:
            # The model thread is wedged; say so, so the platform replaces this instance.
            await self.error(send, 503, f"unhealthy: a prediction has been running for {stuck:.0f} s")
            return
        await send(_PING_OK)
        await send(_EMPTY_BODY)

    async def execution_parameters(self, send: Send) -> None:
        hook = self.invoker.hooks.execution_parameters_fn
        try:
            if hook is not None:
                result = hook()
                body = result if isinstance(result, (bytes, str)) else json.dumps(result)
            else:
                body = json.dumps(
                    {
                        "MaxConcurrentTransforms": self.workers,
                        "BatchStrategy": "MULTI_RECORD",
                        "MaxPayloadInMB": max(1, self.max_payload // (1024 * 1024)),
                    }
                )
        except Exception as exc:
            log.error("execution_parameters_fn failed", exc_info=exc)
            await self.error(send, 500, f"execution_parameters_fn failed: {short(exc)}")
            return
        await self.respond(send, 200, body.encode() if isinstance(body, str) else body, "application/json")

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = accept = None
        declared = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else -1
            elif name == b"contenttype" and content_type is None:  # SageMaker also honours "ContentType"
                content_type = value.decode("latin-1")
        try:
            if declared > self.max_payload:
                raise self._too_large(declared)
            body = await self._body(receive)
            answer, answer_type = await self.invoker.invoke(body, content_type, accept)
        except InvocationError as exc:
            await self.error(send, exc.status_code, str(exc))
            return
        except Exception as exc:  # a bug in the server itself: never take the worker down
            log.error("invocation failed", exc_info=exc)
            await self.error(send, 500, f"internal error: {short(exc)}")
            return
        await self.respond(send, 200, answer, answer_type)

    async def _body(self, receive: Receive) -> bytes:
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.max_payload:
                raise self._too_large(len(body))
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvocationError("the client disconnected before sending the whole body", 400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_payload:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body of {size} bytes exceeds the {self.max_payload} byte limit "
            f"({self.max_payload / (1024 * 1024):g} MB); split it into smaller requests"
        )

    async def respond(self, send: Send, status: int, body: bytes, content_type: str) -> None:
        header = self._content_types.get(content_type)
        if header is None:
            header = content_type.encode("latin-1", "replace")
            if len(self._content_types) < 64:
                self._content_types[content_type] = header
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", header), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def error(self, send: Send, status: int, message: str, allow: bytes | None = None) -> None:
        body = (message.replace("\r", " ").replace("\n", " ") + "\n").encode("utf-8", "replace")
        headers = [(b"content-type", _TEXT), (b"content-length", b"%d" % len(body))]
        if allow is not None:
            headers.append((b"allow", allow))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
