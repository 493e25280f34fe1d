"""CloudWatch's statistics over the datapoints of one period.

The simple statistics (SampleCount, Sum, Average, Minimum, Maximum) work on raw values and on
statistic sets (PutMetricData's StatisticValues) alike; the extended ones (percentiles, trimmed
and winsorized means, ...) need raw values, so a period that holds only statistic sets has no
value for them, as on AWS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SIMPLE", "Period", "StatisticError", "compute", "parse_extended"]

SIMPLE = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")

_PERCENT = r"(\d{1,2}(?:\.\d{1,10})?|100)"
_SINGLE = re.compile(r"(p|tm|wm|tc|ts)" + _PERCENT)
_RANGE = re.compile(r"(TM|WM|TC|TS|PR)\(" + r"(\d+(?:\.\d+)?%?)?:(\d+(?:\.\d+)?%?)?" + r"\)")


class StatisticError(ValueError):
    """Not a statistic CloudWatch knows; the message says which."""


@dataclass
class Period:
    """What one period holds: raw values and statistic sets (count, sum, min, max)."""

    values: list[float]
    sets: list[tuple[float, float, float, float]]

    @property
    def empty(self) -> bool:
        return not self.values and not self.sets


@dataclass(frozen=True)
class Extended:
    """An extended statistic: kind (p, tm, wm, tc, ts, pr) and the bounds it keeps."""

    kind: str
    low: float
    """Lower bound: a percentile (0-100), or a value when `by_value`."""
    high: float
    by_value: bool = False


def parse_extended(name: str) -> Extended:
    """`p99`, `tm90`, `wm99.9`, `TM(10%:90%)`, `PR(:300)`, `IQM`... -> its definition."""
    if name == "IQM":
        return Extended("tm", 25.0, 75.0)
    single = _SINGLE.fullmatch(name)
    if single:
        kind, value = single.group(1), float(single.group(2))
        return Extended(kind, 0.0, value) if kind != "p" else Extended("p", value, value)
    ranged = _RANGE.fullmatch(name)
    if ranged:
        kind, low, high = ranged.group(1).lower(), ranged.group(2) or "", ranged.group(3) or ""
        percent = low.endswith("%") or high.endswith("%")
        if percent and ((low and not low.endswith("%")) or (high and not high.endswith("%"))):
            raise StatisticError(f"{name}: both bounds must be percentages, or both values")
        if kind == "pr" and percent:
            raise StatisticError(f"{name}: PR takes values, not percentages")
        lo = float(low.rstrip("%")) if low else (0.0 if percent or kind != "pr" else -math.inf)
        hi = float(high.rstrip("%")) if high else (100.0 if percent or kind != "pr" else math.inf)
        return Extended(kind, lo, hi, by_value=not percent)
    raise StatisticError(f"{name} is not a statistic CloudWatch knows (Statistic: {', '.join(SIMPLE)}; "
                         f"ExtendedStatistic: p99, tm90, wm99, tc90, ts90, TM(10%:90%), PR(:300), IQM, ...)")


def _percentile(ordered: Sequence[float], p: float) -> float:
    """The value below which p% of the datapoints fall (nearest rank)."""
    if p <= 0:
        return ordered[0]
    rank = math.ceil(p / 100.0 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def _extended(values: Sequence[float], stat: Extended) -> float | None:
    ordered = sorted(values)
    if stat.kind == "p":
        return _percentile(ordered, stat.low)
    if stat.by_value:
        low, high = stat.low, stat.high
    else:
        low = _percentile(ordered, stat.low) if stat.low > 0 else -math.inf
        high = _percentile(ordered, stat.high)
    kept = [v for v in ordered if (low < v <= high if stat.low > 0 or stat.by_value else v <= high)]
    if stat.kind == "pr":
        return 100.0 * len(kept) / len(ordered)
    if stat.kind == "tc":
        return float(len(kept))
    if stat.kind == "ts":
        return math.fsum(kept)
    if stat.kind == "wm":
        clamped = [min(max(v, low), high) for v in ordered]
        return math.fsum(clamped) / len(clamped)
    return math.fsum(kept) / len(kept) if kept else None  # tm


def compute(period: Period, statistic: str | None, extended: str | None) -> float | None:
    """The statistic of one period, or None when the period has no value for it."""
    if period.empty:
        return None
    if extended:
        return _extended(period.values, parse_extended(extended)) if period.values else None
    count = len(period.values) + math.fsum(s[0] for s in period.sets)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return math.fsum(period.values) + math.fsum(s[1] for s in period.sets)
    if statistic == "Average":
        total = math.fsum(period.values) + math.fsum(s[1] for s in period.sets)
        return total / count if count else None
    if statistic == "Minimum":
        return min([*period.values, *(s[2] for s in period.sets)])
    if statistic == "Maximum":
        return max([*period.values, *(s[3] for s in period.sets)])
    raise StatisticError(f"{statistic} is not a statistic CloudWatch knows ({', '.join(SIMPLE)})")
