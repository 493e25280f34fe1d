"""A background thread that does something on its own, every little while: what AWS does unasked.

CloudWatch evaluates alarms and SageMaker runs monitoring schedules without anyone calling an API;
localcloud does both from a ticker each: `tick()` is called until the process ends, with `pause()`
seconds between calls (recomputed each time: the shortest alarm period, the clock's scale). An
exception in a tick is logged and the next tick comes anyway. The thread is a daemon: it ends with
the process, as the work it does belongs to no request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Ticker"]

log = logging.getLogger("localcloud.ticker")


class Ticker:
    def __init__(self, name: str, tick: Callable[[], None], pause: Callable[[], float]):
        self.name, self.tick, self.pause = name, tick, pause
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (again, if it ended); idempotent."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a bug of ours must not end what AWS would keep doing
                log.exception("%s: a tick failed", self.name)
            time.sleep(self.pause())
