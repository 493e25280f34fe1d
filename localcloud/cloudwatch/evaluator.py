"""The thread that evaluates every alarm of every account and region, as CloudWatch does on its own.

It ticks often enough for the shortest alarm period in use (at least four looks per period,
on localcloud's clock: `localcloud.clock`), at most once a second, so a state change follows the
end of the period that caused it within a fraction of that period.
"""

from __future__ import annotations

import logging
import threading

from localcloud import clock

__all__ = ["start", "stop"]

log = logging.getLogger("localcloud.alarms")

_stop = threading.Event()
_thread: threading.Thread | None = None


def _backends() -> list:
    from moto.cloudwatch.models import cloudwatch_backends

    from localcloud.cloudwatch.backend import LocalCloudWatchBackend

    return [b for _a, _r, b in cloudwatch_backends.iter_backends() if isinstance(b, LocalCloudWatchBackend)]


def _tick_seconds(backends: list) -> float:
    periods = [int(a.period or 60) for b in backends for a in list(b.alarms.values()) if a.rule is None]
    if not periods:
        return 1.0
    return max(0.05, min(1.0, clock.real_seconds(min(periods)) / 4))


def _run() -> None:
    while not _stop.is_set():
        backends = _backends()
        for backend in backends:
            try:
                backend.evaluate_alarms()
            except Exception:  # a bug of ours must not end alarm evaluation for everyone
                log.exception("alarm evaluation failed in %s/%s", backend.account_id, backend.region_name)
        _stop.wait(_tick_seconds(backends))


def start() -> None:
    """Start the evaluator (once per process)."""
    global _thread
    if _thread is None or not _thread.is_alive():
        _stop.clear()
        _thread = threading.Thread(target=_run, name="alarm-evaluator", daemon=True)
        _thread.start()


def stop() -> None:
    _stop.set()
