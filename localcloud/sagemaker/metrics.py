"""Endpoint invocation metrics in CloudWatch's `AWS/SageMaker` namespace.

Each invocation adds one sample; once a second the samples are folded into statistic
sets per metric and dimensions and sent with PutMetricData, as SageMaker itself
reports aggregated per-minute data rather than one call per request. On localcloud's fast
clock a minute lasts 60/N seconds, so the buckets shrink with it and are shipped four times a
scaled minute: an alarm with a one-minute period then sees one datapoint per (short) period,
as on AWS.

A fleet that an update brought up also reports under `EndpointConfigName` (its config) besides
`EndpointName` and `VariantName`, from its first request on and after the deployment too, as
SageMaker does: that is how a rollback alarm watches the new fleet alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from localcloud import aws, clock
from localcloud.batching import BatchSink

NAMESPACE = "AWS/SageMaker"
MAX_VALUES = 150
"""PutMetricData's limit of distinct values in one datum."""


@dataclass(frozen=True)
class Invocation:
    region: str
    endpoint: str
    variant: str
    config: str | None
    """The fleet's endpoint config when an update brought it up (its EndpointConfigName dimension)."""
    status: int
    model_latency_us: float
    overhead_latency_us: float
    at: datetime


def _stats(values: list[float], unit: str) -> dict:
    return {"SampleCount": float(len(values)), "Sum": float(sum(values)), "Minimum": float(min(values)),
            "Maximum": float(max(values)), "Unit": unit}


def _distribution(values: list[float]) -> list[dict[str, list[float]]]:
    """Latencies as PutMetricData Values/Counts (at most 150 per datum), to three significant digits.

    A distribution rather than a statistic set, because alarms on SageMaker's latency use
    percentiles (p99), which CloudWatch computes only from values, never from sums and counts.
    """
    counted = Counter(float(f"{v:.3g}") for v in values)
    pairs = sorted(counted.items())
    chunks = [pairs[i:i + MAX_VALUES] for i in range(0, len(pairs), MAX_VALUES)]
    return [{"Values": [v for v, _ in chunk], "Counts": [float(n) for _, n in chunk]} for chunk in chunks]


def _ship(items: list[Invocation]) -> None:
    grouped: dict[tuple[str, str, str, str | None, datetime], list[Invocation]] = defaultdict(list)
    for item in items:
        grouped[(item.region, item.endpoint, item.variant, None, _minute(item.at))].append(item)
        if item.config:
            grouped[(item.region, item.endpoint, item.variant, item.config, _minute(item.at))].append(item)
    by_region: dict[str, list[dict]] = defaultdict(list)
    for (region, endpoint, variant, config, minute), calls in grouped.items():
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        if config:
            dims.append({"Name": "EndpointConfigName", "Value": config})
        counts = {
            "Invocations": [1.0] * len(calls),
            "InvocationsPerInstance": [1.0] * len(calls),
            "Invocation4XXErrors": [1.0 if 400 <= c.status < 500 else 0.0 for c in calls],
            "Invocation5XXErrors": [1.0 if c.status >= 500 else 0.0 for c in calls],
        }
        for name, values in counts.items():
            stats = _stats(values, "None")
            unit = stats.pop("Unit")
            by_region[region].append({"MetricName": name, "Dimensions": dims, "Timestamp": minute,
                                      "StatisticValues": stats, "Unit": unit})
        for name, values in (("ModelLatency", [c.model_latency_us for c in calls]),
                             ("OverheadLatency", [c.overhead_latency_us for c in calls])):
            for chunk in _distribution(values):
                by_region[region].append({"MetricName": name, "Dimensions": dims, "Timestamp": minute,
                                          "Unit": "Microseconds", **chunk})
    for region, data in by_region.items():
        cloudwatch = aws.client("cloudwatch", region)
        for start in range(0, len(data), 500):
            cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + 500])


def _minute(moment: datetime) -> datetime:
    """The start of the (clock-scaled) minute `moment` falls in."""
    length = clock.real_seconds(60)
    return datetime.fromtimestamp(moment.timestamp() // length * length, UTC)


sink: BatchSink[Invocation] = BatchSink("sagemaker-metrics", _ship,
                                        interval=lambda: min(1.0, clock.real_seconds(60) / 4))
"""Once a second, or four times a (scaled) minute on a fast clock: an alarm must see a minute's data
before it evaluates the minutes after it."""


def record(region: str, endpoint: str, variant: str, config: str | None, status: int, model_latency_us: float,
           overhead_latency_us: float) -> None:
    sink.add(Invocation(region, endpoint, variant, config, status, model_latency_us, overhead_latency_us,
                        datetime.now(UTC)))
