"""uvicorn's httptools protocol with the three limits it lacks: header deadline, header size, declared chunk size.

uvicorn bounds idle keep-alive connections, but not a request whose header block arrives one
byte at a time (hundreds of such connections stay open forever), nor the size of a header block
(megabytes are buffered), and it waits for a chunk of `7fffffffffffffff` bytes instead of
refusing it. This subclass keeps llhttp as the parser and adds a thin framing tracker that
knows, for the bytes of each `data_received`, whether they belong to a header block, a body of
known length, or chunked framing, so that:

- a header block must be complete within `header_timeout` seconds of its first byte (and a new
  connection must start one within that time), else 408 and the connection is closed;
- a header block larger than `max_header_bytes` is refused with 431 before it is buffered;
- a chunk whose declared size takes the body past `max_body_bytes` is refused with 413 as soon
  as its size line arrives.

The tracker does not parse HTTP for meaning: llhttp still does, and rejects malformed input.
When the tracker cannot follow the framing (a malformed size line), it steps aside and lets
llhttp report the error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ChunkTracker", "guarded_protocol"]

_CRLF2 = b"\r\n\r\n"
_MAX_SIZE_LINE = 4096


class ChunkTooLarge(Exception):
    pass


class ChunkTracker:
    """Follows chunked framing byte by byte; knows the body's declared size and where it ends."""

    def __init__(self, limit: int):
        self.limit = limit
        self.declared = 0
        self.done = False
        self.lost = False
        self._state = "size"
        self._line = bytearray()
        self._remaining = 0

    def feed(self, data: bytes) -> int:
        """Consume framing from `data`; the bytes used (less than all when the body ended). Raises ChunkTooLarge."""
        pos = 0
        while pos < len(data) and not self.done:
            if self._state == "data":
                take = min(self._remaining, len(data) - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data-end"
                    self._line.clear()
                continue
            end = data.find(b"\n", pos)
            if end < 0:
                self._line += data[pos:]
                if len(self._line) > _MAX_SIZE_LINE:
                    self.lost = self.done = True
                return len(data)
            self._line += data[pos:end + 1]
            pos = end + 1
            line = bytes(self._line).rstrip(b"\r\n")
            self._line.clear()
            if self._state == "data-end":
                self._state = "size"  # the CRLF after a chunk's data
            elif self._state == "size":
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                except ValueError:
                    self.lost = self.done = True  # llhttp will refuse it
                    continue
                if size < 0:
                    self.lost = self.done = True
                    continue
                self.declared += size
                if self.declared > self.limit:
                    raise ChunkTooLarge(self.declared)
                if size == 0:
                    self._state = "trailer"
                else:
                    self._state, self._remaining = "data", size
            elif self._state == "trailer" and not line:
                self.done = True
        return pos


def guarded_protocol(*, header_timeout: float, max_header_bytes: int, max_body_bytes: int) -> type:
    """An HttpToolsProtocol class with these limits, for `uvicorn.Config(http=...)`."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._phase = "headers"
            self._header_bytes = 0
            self._tail = b""
            self._body_left = 0
            self._content_length: int | None = None
            self._chunked = False
            self._chunks: ChunkTracker | None = None
            self._header_timer: asyncio.TimerHandle | None = None

        # ---- timers
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_timed_out)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self._phase == "headers" and not self.transport.is_closing():
                self._refuse(408, f"the request's headers did not arrive within {header_timeout:g} s")

        # ---- parser callbacks
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._content_length, self._chunked = None, False

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            lowered = name.lower()
            if lowered == b"content-length" and value.strip().isdigit():
                self._content_length = int(value)
            elif lowered == b"transfer-encoding" and value.strip().lower().endswith(b"chunked"):
                self._chunked = True

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

        # ---- framing
        def data_received(self, data: bytes) -> None:
            pos = 0
            while pos < len(data) and not self.transport.is_closing():
                if self._phase == "headers":
                    if self._header_bytes == 0:
                        self._arm_header_timer()
                    allowed = max_header_bytes - self._header_bytes
                    window = self._tail + data[pos:pos + allowed + len(_CRLF2)]
                    end = window.find(_CRLF2)
                    if end < 0:
                        if len(data) - pos > allowed:
                            self._refuse(431, f"the request's header block exceeds {max_header_bytes} bytes")
                            return
                        self._header_bytes += len(data) - pos
                        self._tail = (self._tail + data[pos:])[-3:]
                        super().data_received(data[pos:])
                        return
                    cut = pos + end + len(_CRLF2) - len(self._tail)
                    self._tail, self._header_bytes = b"", 0
                    super().data_received(data[pos:cut])
                    pos = cut
                    self._enter_body()
                elif self._phase == "chunked":
                    assert self._chunks is not None
                    try:
                        used = self._chunks.feed(data[pos:])
                    except ChunkTooLarge as e:
                        self._refuse(413, f"request body of at least {e.args[0]} bytes (as its chunks declare) "
                                          f"exceeds the {max_body_bytes} byte limit "
                                          f"({max_body_bytes / (1024 * 1024):g} MB); split it into smaller requests")
                        return
                    if self._chunks.lost:
                        self._phase = "passthrough"
                        continue
                    super().data_received(data[pos:pos + used])
                    pos += used
                    if self._chunks.done:
                        self._phase = "headers"
                elif self._phase == "body":
                    take = min(self._body_left, len(data) - pos)
                    super().data_received(data[pos:pos + take])
                    pos += take
                    self._body_left -= take
                    if self._body_left == 0:
                        self._phase = "headers"
                else:  # passthrough: llhttp reports whatever is wrong
                    super().data_received(data[pos:])
                    return

        def _enter_body(self) -> None:
            if self._chunked:
                self._phase, self._chunks = "chunked", ChunkTracker(max_body_bytes)
            elif self._content_length:
                self._phase, self._body_left = "body", self._content_length
            else:
                self._phase = "headers"

        def _refuse(self, status: int, message: str) -> None:
            """Answer `status` and close, unless a response for this connection is already on its way."""
            self._cancel_header_timer()
            self._phase = "passthrough"
            if self.cycle is None or not self.cycle.response_started:
                reason = {408: b"Request Timeout", 413: b"Payload Too Large",
                          431: b"Request Header Fields Too Large"}[status]
                body = message.encode() + b"\n"
                self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                     b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                                     % (status, reason, len(body), body))
            if self.cycle is not None:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()

    return GuardedHttpToolsProtocol
