"""A job's log: a local file plus CloudWatch Logs, the way SageMaker ships container output.

SageMaker writes every line a container prints to `/aws/sagemaker/<Kind>Jobs`, stream
`<job>/algo-1-<epoch>`, where the SDK's `logs=True`, the console and `aws logs tail` read
it. We do the same through the configured AWS endpoint, in batches (one PutLogEvents
per second at most, not one per line), from a small shipping thread so that AWS calls
never sit on the job's own path. Logs are a convenience, never a reason for a job to
fail: any CloudWatch error is noted in the local file and shipping stops.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import Any

from localcloud import aws

__all__ = ["NOTE_PREFIX", "JobLog"]

NOTE_PREFIX = "[localcloud] "
_EVENT_OVERHEAD = 26  # bytes CloudWatch adds to each event when sizing a batch
_MAX_EVENT = 256 * 1024 - _EVENT_OVERHEAD
_MAX_BATCH_BYTES = 1_048_576
_MAX_BATCH_EVENTS = 10_000
_CLOSE_TIMEOUT = 10.0


class JobLog:
    """Collects lines for one job (from one thread); call `close()` when the job ends."""

    def __init__(self, path: Path, group: str, stream: str, region: str, *, flush_interval: float = 1.0):
        self.path = path
        self.group = group
        self.stream = stream
        self.region = region
        self.flush_interval = flush_interval
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", buffering=1024 * 64)
        self._events: list[dict[str, Any]] = []
        self._bytes = 0
        self._last_ms = 0
        self._last_flush = time.monotonic()
        self._error: str | None = None
        self._batches: queue.SimpleQueue[list[dict[str, Any]] | None] = queue.SimpleQueue()
        self._shipper = threading.Thread(target=self._ship, name=f"logs-{stream}", daemon=True)
        self._shipper.start()  # creates the stream while the job downloads its inputs

    # -------------------------------------------------------------- writing
    def line(self, text: str, ts: float | None = None) -> None:
        """One line of job output (no trailing newline)."""
        self._file.write(text + "\n")
        if self._error is not None or not text:  # CloudWatch rejects empty messages
            return
        ms = max(int((ts if ts is not None else time.time()) * 1000), self._last_ms)
        self._last_ms = ms
        data = text.encode("utf-8")
        if len(data) > _MAX_EVENT:
            text = data[:_MAX_EVENT].decode("utf-8", "ignore")
            data = text.encode("utf-8")
        size = len(data) + _EVENT_OVERHEAD
        if len(self._events) >= _MAX_BATCH_EVENTS or self._bytes + size > _MAX_BATCH_BYTES:
            self.flush()
        self._events.append({"timestamp": ms, "message": text})
        self._bytes += size
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def note(self, text: str) -> None:
        """A line from localcloud itself, marked so nobody mistakes it for the script's output."""
        for part in text.splitlines() or [""]:
            self.line(NOTE_PREFIX + part)

    def tick(self) -> None:
        """Ship what is buffered once the flush interval has passed, even if the job is quiet."""
        if self._events and time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write the local file through and hand buffered events to the shipping thread."""
        self._file.flush()
        self._last_flush = time.monotonic()
        if self._events:
            self._batches.put(self._events)
        self._events, self._bytes = [], 0

    def close(self) -> None:
        """Ship everything left (waiting up to 10 s for CloudWatch) and close the file."""
        self.flush()
        self._batches.put(None)
        self._shipper.join(_CLOSE_TIMEOUT)
        if self._shipper.is_alive():
            self._error = self._error or "CloudWatch Logs did not answer in time"
        if self._error is not None:
            self._file.write(f"{NOTE_PREFIX}CloudWatch Logs shipping stopped: {self._error}\n")
        self._file.close()

    # -------------------------------------------------------------- shipping thread
    def _ship(self) -> None:
        try:
            logs = aws.client("logs", self.region)
            self._create_stream(logs)
        except Exception as e:  # logs must never fail the job
            self._error = f"{type(e).__name__}: {e}"
        while True:
            batch = self._batches.get()
            if batch is None:
                return
            if self._error is not None:
                continue
            try:
                logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
            except Exception as e:
                self._error = f"{type(e).__name__}: {e}"

    def _create_stream(self, logs: Any) -> None:
        """Create the stream, and the group only when it is missing (one call in the usual case)."""
        try:
            logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except logs.exceptions.ResourceNotFoundException:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=self.group)
            logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
