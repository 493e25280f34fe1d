"""The thread that evaluates every alarm of every account and region, as CloudWatch does on its own.

It ticks often enough for the shortest alarm period in use (at least four looks per period,
on localcloud's clock: `localcloud.clock`), at most once a second, so a state change follows the
end of the period that caused it within a fraction of that period.
"""

from __future__ import annotations

import logging

from localcloud import clock
from localcloud.ticker import Ticker

__all__ = ["start"]

log = logging.getLogger("localcloud.alarms")


def _backends() -> list:
    from moto.cloudwatch.models import cloudwatch_backends

    from localcloud.cloudwatch.backend import LocalCloudWatchBackend

    return [b for _a, _r, b in cloudwatch_backends.iter_backends() if isinstance(b, LocalCloudWatchBackend)]


def _tick() -> None:
    for backend in _backends():
        try:
            backend.evaluate_alarms()
        except Exception:  # one account's or region's failure must not stop the others'
            log.exception("alarm evaluation failed in %s/%s", backend.account_id, backend.region_name)


def _pause() -> float:
    periods = [int(a.period or 60) for b in _backends() for a in list(b.alarms.values()) if a.rule is None]
    if not periods:
        return 1.0
    return max(0.05, min(1.0, clock.real_seconds(min(periods)) / 4))


_ticker = Ticker("alarm-evaluator", _tick, _pause)
start = _ticker.start
