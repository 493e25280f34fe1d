"""A background flusher: collect records cheaply on the hot path, ship them in batches.

Invocation metrics and data capture must not add AWS round trips to a request; they
are appended under a lock and shipped once a second by one thread per sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("localcloud.batching")

T = TypeVar("T")


class BatchSink(Generic[T]):
    """Buffers items and hands them to `ship` in batches from a daemon thread."""

    def __init__(self, name: str, ship: Callable[[list[T]], None], interval: float | Callable[[], float] = 1.0):
        """`interval`: seconds between shipments, or a function giving them (read before each wait)."""
        self._name = name
        self._ship = ship
        self._interval = interval
        self._items: list[T] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, item: T) -> None:
        with self._lock:
            self._items.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        if items:
            try:
                self._ship(items)
            except Exception:  # losing telemetry is logged; it never breaks serving
                log.exception("%s: could not ship %d records", self._name, len(items))

    def _loop(self) -> None:
        while True:
            time.sleep(self._interval() if callable(self._interval) else self._interval)
            self._drain()
