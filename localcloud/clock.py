"""localcloud's clock for what AWS does on a schedule: alarm periods, monitoring schedules.

A 60-second alarm period or an hourly monitoring schedule makes a local feedback loop as slow
as AWS's. `--time-scale N` (LOCALCLOUD_TIME_SCALE) runs that time N times faster: a 60-second
period lasts 60/N real seconds, with the same template and the same definitions. Timestamps
stay real (metrics, events and logs carry the wall-clock time), only durations shrink.
"""

from __future__ import annotations

__all__ = ["TIME_SCALE_ENV", "real_seconds", "scale", "set_scale"]

TIME_SCALE_ENV = "LOCALCLOUD_TIME_SCALE"


def _parse(value: str | float) -> float:
    scale = float(value)
    if not (1 <= scale <= 3600):
        raise ValueError(f"the time scale must be between 1 and 3600, not {value}")
    return scale


_scale = 1.0
"""Set by the server from --time-scale / LOCALCLOUD_TIME_SCALE."""


def set_scale(value: float) -> None:
    global _scale
    _scale = _parse(value)


def scale() -> float:
    return _scale


def real_seconds(aws_seconds: float) -> float:
    """How long `aws_seconds` of AWS time lasts here."""
    return aws_seconds / _scale
