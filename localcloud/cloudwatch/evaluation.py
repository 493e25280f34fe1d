"""One evaluation of a metric alarm, as CloudWatch's documentation describes it.

Pure: it takes the alarm's settings, the periods of its evaluation range that hold a value
(of its metric's statistic, or of its metric-math expression) and the current state; it returns
the state the alarm should be in, with CloudWatch's reason text and reason data, or None to keep
the current state. The backend (`localcloud.cloudwatch.backend`) feeds it as periods end.

The rules ("Configuring how CloudWatch alarms treat missing data"): CloudWatch looks at more
periods than EvaluationPeriods (N), the evaluation range. If at least N of them hold a datapoint,
the N most recent datapoints decide and TreatMissingData does not matter; the alarm is in ALARM
when at least DatapointsToAlarm (M) of them breach, else OK. With fewer, the missing ones are
filled as few times as needed: `breaching` and `notBreaching` fill with breaching or good
points. `missing` and `ignore` do not count them: M breaching datapoints still mean ALARM, and so
do breaching-only datapoints whose oldest is at least M periods old under `missing` (the rule
that avoids both premature and never-firing alarms); any good datapoint means OK; otherwise the
state stays. With no datapoint at all, `missing` means INSUFFICIENT_DATA and `ignore` keeps the
state. The documentation's two tables (3 of 3 and 2 of 3, over a range of 5) are tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["ALARM", "COMPARISONS", "INSUFFICIENT", "OK", "Datapoint", "Outcome", "Settings", "evaluate",
           "extra_periods", "period_bounds"]

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
"""Operator -> (breaches?, the words CloudWatch's reason uses)."""

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"


def extra_periods(evaluation_periods: int) -> int:
    """How many periods beyond N the evaluation range reaches back (documented: N=3 -> a range of 5)."""
    return max(2, evaluation_periods // 3)


def period_bounds(now: float, period_seconds: float, periods: int) -> tuple[float, float]:
    """Start and end (epoch seconds) of the last `periods` complete periods before `now`."""
    end = math.floor(now / period_seconds) * period_seconds
    return end - periods * period_seconds, end


@dataclass(frozen=True)
class Settings:
    """What evaluation needs of an alarm."""

    evaluation_periods: int
    datapoints_to_alarm: int | None
    """None when the alarm does not set it (then M = N, and the reason text is the short form)."""
    threshold: float
    comparison: str
    treat_missing_data: str
    period: int
    statistic: str | None
    """None for metric-math alarms."""
    unit: str | None = None
    low_sample_count_limit: float | None = None
    """For percentiles with EvaluateLowSampleCountPercentile=ignore: fewer samples in a period keep the state."""


@dataclass(frozen=True)
class Datapoint:
    start: float
    """Epoch seconds at which its period starts."""
    value: float
    samples: float


@dataclass(frozen=True)
class Outcome:
    state: str
    reason: str
    reason_data: dict[str, Any]


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")


def iso(epoch: float) -> str:
    """CloudWatch's timestamp format in reason data and notifications: 2019-10-02T17:04:40.985+0000."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def evaluate(settings: Settings, points: list[Datapoint], range_end: float, length: float,
             now: float) -> Outcome | None:
    """The alarm's state after this evaluation, or None to keep the current one (and its reason).

    `points` are the periods of the evaluation range that hold a value, oldest first; `length` is
    the period in real seconds (the range ends at `range_end`).
    """
    n = settings.evaluation_periods
    m = min(settings.datapoints_to_alarm or n, n)
    breaches = COMPARISONS[settings.comparison][0]
    used = points[-n:]
    if settings.low_sample_count_limit is not None and any(
            p.samples < settings.low_sample_count_limit for p in used):
        return None
    breaching = [p for p in used if breaches(p.value, settings.threshold)]
    fills = n - len(used)
    treat = settings.treat_missing_data or "missing"
    data = _reason_data(settings, used, now)
    if not used:
        if treat == "breaching":
            return Outcome(ALARM, _all_missing(n, "Breaching"), data)
        if treat == "notBreaching":
            return Outcome(OK, _all_missing(n, "NonBreaching"), data)
        if treat == "missing":
            return Outcome(INSUFFICIENT, f"Insufficient Data: {_plural(n, 'datapoint')} {_was(n)} unknown.", data)
        return None  # ignore
    filled_as = None
    if fills == 0:
        state = ALARM if len(breaching) >= m else OK
    elif treat == "breaching":
        state, filled_as = (ALARM if len(breaching) + fills >= m else OK), "Breaching"
    elif treat == "notBreaching":
        state, filled_as = (ALARM if len(breaching) >= m else OK), "NonBreaching"
    elif len(breaching) >= m:
        state = ALARM
    elif len(breaching) == len(used):  # only breaching datapoints, fewer than M
        oldest_age = round((range_end - used[0].start) / length)
        if treat == "missing" and oldest_age >= m:
            state = ALARM
        else:
            return None  # the next datapoint decides: no premature transition
    else:
        state = OK
    return Outcome(state, _reason(settings, state, used, breaching, fills, filled_as), data)


def _all_missing(n: int, filled_as: str) -> str:
    return (f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(n, 'missing datapoint')} {_was(n)} treated as [{filled_as}].")


def _reason(settings: Settings, state: str, used: list[Datapoint], breaching: list[Datapoint], fills: int,
            filled_as: str | None) -> str:
    n = settings.evaluation_periods
    words = COMPARISONS[settings.comparison][1]
    shown = breaching if state == ALARM else [p for p in used if p not in breaching]
    listed = ", ".join(f"{float(p.value)!r} ({_stamp(p.start)})" for p in reversed(shown))
    relation = words if state == ALARM else f"not {words}"
    count = len(shown)
    if settings.datapoints_to_alarm is None:
        head = _plural(count, "datapoint")
    else:
        head = f"{count} out of the last {n} datapoints"
    threshold = float(settings.threshold)
    text = f"Threshold Crossed: {head} [{listed}] {_was(count)} {relation} the threshold ({threshold!r})"
    if filled_as is not None and fills:
        text += f" and {_plural(fills, 'missing datapoint')} {_was(fills)} treated as [{filled_as}]"
    if settings.datapoints_to_alarm is not None:
        m = min(settings.datapoints_to_alarm, n)
        minimum, transition = (m, "OK -> ALARM") if state == ALARM else (n - m + 1, "ALARM -> OK")
        text += f" (minimum {_plural(minimum, 'datapoint')} for {transition} transition)"
    return text + "."


def _reason_data(settings: Settings, used: list[Datapoint], now: float) -> dict[str, Any]:
    """StateReasonData in CloudWatch's key order; values oldest first, evaluated datapoints newest first."""
    data: dict[str, Any] = {"version": "1.0", "queryDate": iso(now)}
    if used:
        data["startDate"] = iso(used[0].start)
    if settings.unit:
        data["unit"] = settings.unit
    if settings.statistic:
        data["statistic"] = settings.statistic
    data["period"] = settings.period
    data["recentDatapoints"] = [p.value for p in used]
    data["threshold"] = float(settings.threshold)
    data["evaluatedDatapoints"] = [{"timestamp": iso(p.start), "sampleCount": p.samples, "value": p.value}
                                   for p in reversed(used)]
    return data
