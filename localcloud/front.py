"""localcloud's HTTP front: waitress with every limit set, the access policy, and a last-resort error page.

Why waitress: it reads requests asynchronously on one loop thread and hands only *complete*
requests to a fixed pool of worker threads, so a slow or half-sent request costs a socket, never a
thread; it refuses oversize headers and bodies (declared or chunked) before anything is decoded and
buffers large bodies in anonymous temporary files instead of memory. On top of that, this module
adds what waitress leaves out: a deadline for the whole header block (a client dribbling a header
byte every few seconds is cut off), and S3 user metadata as S3 has it: request headers with
underscores (waitress drops every header whose name has one; moto keeps `x-amz-meta-*` ones, which
S3 allows) and response header names in the case they were given (waitress capitalizes them).

Limits (command-line option / environment variable / default):

=========================  ===========================  ======================================
header block               LOCALCLOUD_MAX_HEADER_KB     64 KiB, else 431
request body               LOCALCLOUD_MAX_BODY_MB       256 MiB (S3 uploads), else 413
header deadline            LOCALCLOUD_HEADER_TIMEOUT    10 s from a request's first byte
idle / body inactivity     LOCALCLOUD_IDLE_TIMEOUT      30 s without a byte, connection closed
worker threads             LOCALCLOUD_THREADS           32 requests served at once
open connections           LOCALCLOUD_CONNECTION_LIMIT  256, then new ones wait in the backlog
=========================  ===========================  ======================================

JSON and query API calls have their own, lower body limit (`localcloud.api.gate.MAX_RPC_BODY`),
and InvokeEndpoint SageMaker's 6 MB.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, environ_key_for_header
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, get_header_lines
from waitress.receiver import ChunkedReceiver
from waitress.rfc7230 import HEADER_FIELD_RE
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask
from waitress.utilities import RequestEntityTooLarge

from localcloud.api import errors
from localcloud.api.errors import ApiError
from localcloud.guard import AccessPolicy

__all__ = ["FrontLimits", "LocalCloudServer", "guarded"]

log = logging.getLogger("localcloud.front")

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class FrontLimits:
    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 256 * 1024 * 1024
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    threads: int = 32
    connection_limit: int = 256


# ------------------------------------------------------------------------------------- the WSGI side


def guarded(app: WSGIApp, policy: AccessPolicy) -> WSGIApp:
    """`app` behind the access policy and a last-resort handler for our own bugs.

    An exception escaping `app` is a bug of localcloud's or moto's: the caller gets a 500 with an
    AWS-shaped `InternalFailure` body (so SDKs report it like AWS's own), and the traceback goes to
    localcloud's log under a request id the body repeats.
    """

    def serve(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        why = policy.refusal(environ.get("HTTP_HOST"), environ.get("HTTP_ORIGIN"),
                             environ.get("HTTP_SEC_FETCH_SITE"))
        if why is not None:
            log.warning("refused %s %s from %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                        environ.get("REMOTE_ADDR"), why)
            return _answer(environ, start_response, ApiError(403, "AccessDenied", f"localcloud: {why}"))
        # moto reads the path as sent from RAW_URI (S3 keys may hold `#`, `?` or `%2F`, which the
        # decoded PATH_INFO cannot carry); waitress names it REQUEST_URI.
        if "RAW_URI" not in environ and "REQUEST_URI" in environ:
            environ["RAW_URI"] = environ["REQUEST_URI"]
        started: list[bool] = []

        def tracking_start(status: str, headers: list, exc_info: Any = None) -> Any:
            started.append(True)
            return start_response(status, headers, exc_info)

        try:
            result = app(environ, tracking_start)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            request_id = uuid.uuid4().hex
            log.error("request %s (%s %s) failed inside localcloud:\n%s", request_id, environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"), traceback.format_exc())
            error = ApiError(500, "InternalFailure", f"localcloud could not process this request "
                                                     f"(request id {request_id}; the traceback is in its log)",
                             sender=False)
            if started:
                raise  # headers are out; the server can only drop the connection
            return _answer(environ, start_response, error, request_id)

    return serve


def _answer(environ: dict, start_response: Callable[..., Any], error: ApiError,
            request_id: str | None = None) -> list[bytes]:
    if environ.get("HTTP_X_AMZ_TARGET"):
        protocol = "json"
    elif environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        protocol = "query"
    elif environ.get("PATH_INFO", "").startswith("/endpoints/") or "/lambda/" in environ.get(
            "HTTP_AUTHORIZATION", ""):
        protocol = "rest-json"
    else:
        protocol = "rest-xml"
    status, headers, body = errors.render(error, protocol, request_id)
    start_response(status, headers)
    return [body]


# ------------------------------------------------------------------------------------- the HTTP side


class _Parser(HTTPRequestParser):
    """waitress's parser, remembering when a request began and S3 metadata headers with underscores."""

    completed: bool  # waitress's (untyped) flag: the request has been read, or refused

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.began = time.monotonic()
        self.preserved: dict[str, tuple[str, str]] = {}

    def received(self, data: bytes) -> int:
        """waitress's, plus: a chunk whose declared size would pass the body limit is refused at once.

        waitress counts only bytes that arrived, so a client declaring a huge chunk and sending a
        trickle would keep the connection (and its buffer) until the idle timeout.
        """
        consumed = super().received(data)
        receiver = self.body_rcv
        limit = self.adj.max_request_body_size
        if (isinstance(receiver, ChunkedReceiver) and not self.completed
                and self.body_bytes_received + receiver.chunk_remainder >= limit):
            self.error = RequestEntityTooLarge(f"a chunk declares more than max_body of {limit}")
            self.completed = True
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        _, _, block = header_plus.partition(b"\r\n")
        for line in get_header_lines(block):
            found = HEADER_FIELD_RE.match(line)
            if found is None:
                continue
            name = found.group("name").decode("latin-1")
            if "_" in name and name.lower().startswith("x-amz-meta-"):
                key = environ_key_for_header(name)
                value = found.group("value").strip(b" \t").decode("latin-1")
                old = self.preserved.get(key)
                self.preserved[key] = (old[0], f"{old[1]},{value}") if old else (name, value)
        super().parse_header(header_plus)


class _Task(WSGITask):
    def build_response_header(self) -> bytes:
        """waitress capitalizes header names; S3 user metadata keys must keep the case they were given."""
        keep = {name.lower(): name for name, _ in self.response_headers if name.lower().startswith("x-amz-meta-")}
        block = super().build_response_header()
        if not keep:
            return block
        lines = block.split(b"\r\n")
        for index, line in enumerate(lines[1:], start=1):
            name, sep, rest = line.partition(b":")
            original = keep.get(name.decode("latin-1").lower())
            if sep and original:
                lines[index] = original.encode("latin-1") + b":" + rest
        return b"\r\n".join(lines)

    def get_environment(self) -> dict:
        cached = self.environ
        environ = super().get_environment()
        if cached is None:
            preserved = getattr(self.request, "preserved", None) or {}
            names = {}
            for key, (name, value) in preserved.items():
                if key not in environ:  # never let an underscored header stand in for a dashed one
                    environ[key] = value
                    names[key] = name
            environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
        return environ


class _Channel(HTTPChannel):
    parser_class = _Parser
    task_class = _Task


class LocalCloudServer(TcpWSGIServer):
    """waitress's TCP server with our channel and a deadline for each request's header block."""

    channel_class = _Channel

    def __init__(self, app: WSGIApp, host: str, port: int, limits: FrontLimits):
        self.limits = limits
        adj = Adjustments(
            host=host, port=port, threads=limits.threads, connection_limit=limits.connection_limit,
            channel_timeout=int(max(1, limits.idle_timeout)), cleanup_interval=1,
            max_request_header_size=limits.max_header_bytes, max_request_body_size=limits.max_body_bytes,
            ident="localcloud", expose_tracebacks=False, clear_untrusted_proxy_headers=True,
            asyncore_use_poll=True, backlog=1024,
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(limits.threads)
        super().__init__(app, map={}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])

    @property
    def port(self) -> int:
        return int(self.effective_port)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.limits.header_timeout
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is not None and not request.headers_finished and request.began < cutoff:
                log.info("closing a connection from %s: no complete header block within %.0f s",
                         channel.addr[0] if channel.addr else "?", self.limits.header_timeout)
                channel.will_close = True

    def serve(self) -> None:
        """Serve until SystemExit or KeyboardInterrupt reaches the loop, then let workers finish."""
        try:
            self.run()
        finally:
            self.task_dispatcher.shutdown(timeout=5)
            self.close()
