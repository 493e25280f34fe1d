"""CloudWatch where alarms really evaluate: moto's backend plus an index, history and transitions.

moto stores alarms and metric data but never evaluates an alarm: its state stays whatever it
was created with. This subclass keeps, beside moto's own list, an index of datapoints per metric
(namespace, name and the exact set of dimensions, as an alarm matches them), which the evaluator
(`localcloud.cloudwatch.evaluator`) reads every tick. A state change, computed or set with
SetAlarmState, is recorded in the alarm's history (DescribeAlarmHistory), runs the alarm's
actions for the new state when actions are enabled (SNS topics, in CloudWatch's message format),
and emits an EventBridge `CloudWatch Alarm State Change` event whether or not actions are enabled.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend, MetricAggregatedDatum, MetricDatum

from localcloud import clock
from localcloud.cloudwatch import notifications, urls
from localcloud.cloudwatch.composite import RuleError, children, evaluate_rule
from localcloud.cloudwatch.evaluation import (
    COMPARISONS,
    INSUFFICIENT,
    Datapoint,
    Outcome,
    Settings,
    evaluate,
    extra_periods,
    period_bounds,
)
from localcloud.cloudwatch.metric_math import MetricMathError, evaluate_expression
from localcloud.cloudwatch.statistics import SIMPLE, Period, StatisticError, compute, parse_extended

__all__ = ["LocalCloudWatchBackend"]

RETENTION = 24 * 3600.0
"""Seconds of datapoints kept for alarms (moto's own list, for GetMetricStatistics, keeps everything)."""
MAX_POINTS_PER_METRIC = 500_000
HISTORY_LIMIT = 1000
"""History items kept per alarm (AWS keeps two weeks)."""

MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass
class _Series:
    """One metric's datapoints in arrival-time order: epoch seconds, then a value or a statistic set."""

    times: list[float] = field(default_factory=list)
    points: list[tuple[float | None, tuple[float, float, float, float] | None, str | None]] = field(
        default_factory=list)

    def add(self, ts: float, value: float | None, stats: tuple[float, float, float, float] | None,
            unit: str | None) -> None:
        at = bisect.bisect_right(self.times, ts)
        self.times.insert(at, ts)
        self.points.insert(at, (value, stats, unit))

    def prune(self, before: float) -> None:
        cut = bisect.bisect_left(self.times, before)
        cut = max(cut, len(self.times) - MAX_POINTS_PER_METRIC)
        if cut > 0:
            del self.times[:cut]
            del self.points[:cut]

    def periods(self, start: float, end: float, length: float, unit: str | None) -> dict[float, Period]:
        """The datapoints in [start, end), grouped by period start."""
        grouped: dict[float, Period] = {}
        lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)
        for ts, (value, stats, point_unit) in zip(self.times[lo:hi], self.points[lo:hi], strict=True):
            if unit and point_unit and unit != point_unit:
                continue
            bucket = start + ((ts - start) // length) * length
            period = grouped.setdefault(bucket, Period([], []))
            if value is not None:
                period.values.append(value)
            elif stats is not None:
                period.sets.append(stats)
        return grouped


def _epoch(stamp: Any) -> float:
    if stamp is None:
        return time.time()
    if isinstance(stamp, datetime):
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    if isinstance(stamp, int | float):
        return float(stamp)
    text = str(stamp).strip()
    try:
        return float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _key(namespace: str, name: str, dimensions: Iterable[Any]) -> MetricKey:
    pairs = []
    for d in dimensions:
        if isinstance(d, dict):
            pairs.append((str(d.get("Name")), str(d.get("Value"))))
        else:
            pairs.append((str(d.name), str(d.value)))
    return namespace, name, frozenset(pairs)


class LocalCloudWatchBackend(CloudWatchBackend):
    """CloudWatch for one account and region, with alarms that evaluate themselves."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.series: dict[MetricKey, _Series] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.next_evaluation: dict[str, float] = {}
        """Alarm name -> when (epoch seconds) its next period ends and it is evaluated."""
        self.lock = threading.RLock()

    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the backend's module name; ours is elsewhere.
        return urls

    # ------------------------------------------------------------------ data
    def put_metric_data(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        """Store datapoints for alarms (raw values, statistic sets, and Values/Counts distributions).

        A distribution (Values with Counts, as SageMaker's latency metrics are sent) keeps its raw
        values for percentiles here, while moto, which would store one object per counted value,
        gets it as the equivalent statistic set: one datum in moto per member either way.
        """
        members: list[dict[str, Any]] = []
        distributions: list[list[float] | None] = []
        for member in metric_data:
            values = [float(v) for v in member.get("Values") or []]
            if values:
                counts = [int(float(c)) for c in member.get("Counts") or []] or [1] * len(values)
                expanded = [v for v, n in zip(values, counts, strict=False) for _ in range(max(n, 0))]
                if not expanded:  # every count zero: no datapoint
                    continue
                distributions.append(expanded)
                member = {k: v for k, v in member.items() if k not in ("Values", "Counts")}
                member["StatisticValues"] = {"SampleCount": len(expanded), "Sum": math.fsum(expanded),
                                             "Minimum": min(expanded), "Maximum": max(expanded)}
            else:
                distributions.append(None)
            members.append(member)
        with self.lock:
            before = len(self.metric_data)
            super().put_metric_data(namespace, members)
            for datum, raw in zip(self.metric_data[before:], distributions, strict=False):
                ts = _epoch(datum.timestamp)
                series = self.series.setdefault(_key(datum.namespace, datum.name, datum.dimensions), _Series())
                if raw is not None:
                    for value in raw:
                        series.add(ts, value, None, datum.unit)
                elif isinstance(datum, MetricDatum):
                    series.add(ts, float(datum.value), None, datum.unit)
                elif isinstance(datum, MetricAggregatedDatum):
                    series.add(ts, None, (float(datum.sample_count), float(datum.sum), float(datum.min),
                                          float(datum.max)), datum.unit)

    def get_metric_data(self, queries: list[dict[str, Any]], start_time: datetime, end_time: datetime,
                        scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
        """MetricStat queries from the indexed series (percentiles included); anything else as moto does it.

        moto scans every datapoint it ever stored once per period of every query, which takes
        seconds once an endpoint has served for a while; here each query reads its own series.
        """
        if not queries or any("MetricStat" not in q for q in queries):
            return super().get_metric_data(queries, start_time, end_time, scan_by)
        start, end = _epoch(start_time.replace(microsecond=0)), _epoch(end_time.replace(microsecond=0))
        if start >= end:
            return super().get_metric_data(queries, start_time, end_time, scan_by)  # moto's errors
        results = []
        with self.lock:
            for query in queries:
                stat = query["MetricStat"]
                metric = stat["Metric"]
                series = self.series.get(_key(metric["Namespace"], metric["MetricName"],
                                              metric.get("Dimensions") or []))
                name = stat["Stat"]
                simple = name in SIMPLE
                grouped = series.periods(start, end, float(stat["Period"]), stat.get("Unit")) if series else {}
                points = [(at, compute(period, name if simple else None, None if simple else name))
                          for at, period in sorted(grouped.items())]
                points = [(at, value) for at, value in points if value is not None]
                if scan_by == "TimestampDescending":
                    points.reverse()
                if query.get("ReturnData", True):
                    results.append({"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {name}",
                                    "values": [value for _, value in points],
                                    "timestamps": [datetime.fromtimestamp(at, UTC) for at, _ in points],
                                    "status_code": "Complete"})
        return results

    # ------------------------------------------------------------------ alarms
    def put_metric_alarm(self, name: str, *args: Any, **kwargs: Any) -> Alarm:
        if kwargs.get("rule"):
            try:
                evaluate_rule(kwargs["rule"], lambda _name: None)  # the whole grammar, before anything is stored
            except RuleError as e:
                raise ValidationError(str(e)) from None
        extended = kwargs.get("extended_statistic")
        if extended:
            try:
                parse_extended(extended)
            except StatisticError as e:
                raise InvalidParameterValue(
                    f"The value {extended} for parameter ExtendedStatistic is not supported. {e}") from None
            kwargs["extended_statistic"] = None  # moto accepts only pNN; we checked it ourselves
        comparison = kwargs.get("comparison_operator") or (args[2] if len(args) > 2 else None)
        if comparison and comparison not in COMPARISONS and not kwargs.get("rule"):
            raise ValidationError(f"ComparisonOperator {comparison} needs an anomaly detection band, which "
                                  f"localcloud does not compute; use {', '.join(COMPARISONS)}")
        with self.lock:
            existing = self.alarms.get(name)
            alarm = super().put_metric_alarm(name, *args, **kwargs)
            alarm.extended_statistic = extended
            if existing is not None:  # an update keeps the state (AWS: only the configuration changes)
                for attr in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp"):
                    setattr(alarm, attr, getattr(existing, attr))
                summary, change = f'Alarm "{name}" updated', "Update"
            else:
                alarm.state_value = "INSUFFICIENT_DATA"
                alarm.state_reason = "Unchecked: Initial alarm creation"
                summary, change = f'Alarm "{name}" created', "Create"
            self.next_evaluation.pop(name, None)  # evaluated from the end of its next period on
            self._history(alarm, "ConfigurationUpdate", summary, {"version": "1.0", "type": change})
            if alarm.rule is not None:  # a composite alarm is evaluated at once, then on its children's changes
                self._evaluate_composite(alarm, None, "created" if existing is None else "updated")
        return alarm

    def set_alarm_state(self, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        with self.lock:
            super_state = self.alarms.get(alarm_name)
            old = super_state.state_value if super_state else None
            old_reason = super_state.state_reason if super_state else None
            old_data = super_state.state_reason_data if super_state else None
            super().set_alarm_state(alarm_name, reason, reason_data, state_value)
            alarm = self.alarms[alarm_name]
            if old != state_value:
                self._changed(alarm, old or "INSUFFICIENT_DATA", old_reason or "", old_data or "{}")

    def delete_alarms(self, alarm_names: list[str]) -> None:
        with self.lock:
            super().delete_alarms(alarm_names)
            for name in alarm_names:
                self.next_evaluation.pop(name, None)

    def describe_alarm_history(self, alarm_name: str | None, item_type: str | None, start: Any, end: Any,
                               scan_by: str | None) -> list[dict[str, Any]]:
        lo = _epoch(start) if start else None
        hi = _epoch(end) if end else None
        with self.lock:
            names = [alarm_name] if alarm_name else list(self.histories)
            items = [item for n in names for item in self.histories.get(n, [])
                     if (item_type is None or item["HistoryItemType"] == item_type)
                     and (lo is None or item["Timestamp"].timestamp() >= lo)
                     and (hi is None or item["Timestamp"].timestamp() <= hi)]
        items.sort(key=lambda item: item["Timestamp"], reverse=scan_by != "TimestampAscending")
        return items

    # ------------------------------------------------------------------ evaluation
    def evaluate_alarms(self, now: float | None = None) -> None:
        """Evaluate every metric alarm whose next period has ended since it was last evaluated.

        As on AWS, an alarm is evaluated as each period ends (the first time at the end of the
        first period after it was created), looking at the periods that ended by then; a short
        grace lets datapoints sent just before the end arrive.
        """
        now = time.time() if now is None else now
        with self.lock:
            for series in self.series.values():
                series.prune(now - RETENTION)
            for alarm in list(self.alarms.values()):
                if alarm.rule is not None:
                    continue  # composite alarms follow their children's changes (_evaluate_composite)
                length = clock.real_seconds(self._period(alarm))
                due = self.next_evaluation.get(alarm.name)
                if due is None:
                    due = self.next_evaluation[alarm.name] = period_bounds(now, length, 0)[1] + length
                if now < due + min(1.0, length / 10):
                    continue
                self.next_evaluation[alarm.name] = period_bounds(now, length, 0)[1] + length
                try:
                    outcome = self._evaluate(alarm, now)
                except (StatisticError, MetricMathError) as e:
                    outcome = Outcome(INSUFFICIENT, f"Unchecked: {e}", {"version": "1.0"})
                if outcome is None or outcome.state == alarm.state_value:
                    continue
                old, old_reason, old_data = alarm.state_value, alarm.state_reason, alarm.state_reason_data
                alarm.state_value, alarm.state_reason = outcome.state, outcome.reason
                alarm.state_reason_data = json.dumps(outcome.reason_data)
                alarm.state_updated_timestamp = datetime.now(UTC)
                self._changed(alarm, old, old_reason, old_data)

    @staticmethod
    def _period(alarm: Alarm) -> int:
        """The alarm's period in seconds (a metric-math alarm's is its metrics')."""
        stats = [q.metric_stat for q in alarm.metric_data_queries or [] if q.metric_stat is not None]
        return int(alarm.period or (stats[0].period if stats else 0) or 60)

    def _evaluate(self, alarm: Alarm, now: float) -> Outcome | None:
        n = int(alarm.evaluation_periods)
        period = self._period(alarm)
        length = clock.real_seconds(period)
        start, end = period_bounds(now, length, n + extra_periods(n))
        limit = None
        if alarm.metric_data_queries:
            values = self._math_values(alarm, start, end, length)
            points = [Datapoint(t, v, 1.0) for t, v in sorted(values.items())]
        else:
            series = self.series.get(_key(alarm.namespace, alarm.metric_name, alarm.dimensions), _Series())
            points = []
            for bucket, held in sorted(series.periods(start, end, length, alarm.unit).items()):
                value = compute(held, alarm.statistic, alarm.extended_statistic)
                if value is not None:
                    samples = float(len(held.values)) + sum(s[0] for s in held.sets)
                    points.append(Datapoint(bucket, value, samples))
            extended = parse_extended(alarm.extended_statistic) if alarm.extended_statistic else None
            if extended and extended.kind == "p" and alarm.evaluate_low_sample_count_percentile == "ignore":
                p = extended.low / 100.0
                limit = 10.0 / (1.0 - p) if p >= 0.5 else 10.0 / max(p, 1e-9)
        settings = Settings(
            n, int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None, float(alarm.threshold or 0.0),
            alarm.comparison_operator, alarm.treat_missing_data or "missing", period,
            None if alarm.metric_data_queries else (alarm.extended_statistic or alarm.statistic), alarm.unit, limit)
        return evaluate(settings, points, end, length, now)

    def _math_values(self, alarm: Alarm, start: float, end: float, length: float) -> dict[float, float]:
        """Per-period values of the alarm's returned expression (metric math)."""
        inputs: dict[str, dict[float, float]] = {}
        expressions: dict[str, str] = {}
        returned = None
        for query in alarm.metric_data_queries:
            if str(query.return_data).lower() in ("true", "1"):
                returned = query.id
            if query.expression:
                expressions[query.id] = query.expression
                continue
            stat = query.metric_stat
            if stat is None:
                continue
            series = self.series.get(_key(stat.metric.namespace, stat.metric.metric_name, stat.metric.dimensions),
                                     _Series())
            is_simple = stat.stat in SIMPLE
            inputs[query.id] = {
                bucket: value for bucket, held in series.periods(start, end, length, stat.unit).items()
                if (value := compute(held, stat.stat if is_simple else None, None if is_simple else stat.stat))
                is not None}
        if returned is None:
            raise MetricMathError("no query of the alarm has ReturnData set")
        if returned in inputs:
            return inputs[returned]
        return evaluate_expression(returned, expressions, inputs)

    # ------------------------------------------------------------------ transitions
    def _changed(self, alarm: Alarm, old: str, old_reason: str, old_data: str) -> None:
        """Record a state change, run the new state's actions, emit the EventBridge event."""
        new_state = {"stateValue": alarm.state_value, "stateReason": alarm.state_reason}
        old_state = {"stateValue": old, "stateReason": old_reason}
        if alarm.state_reason_data and alarm.state_reason_data != "{}":
            new_state["stateReasonData"] = json.loads(alarm.state_reason_data)
        if old_data and old_data != "{}":
            old_state["stateReasonData"] = json.loads(old_data)
        self._history(alarm, "StateUpdate", f"Alarm updated from {old} to {alarm.state_value}",
                      {"version": "1.0", "oldState": old_state, "newState": new_state})
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                   "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[alarm.state_value] or []
        if alarm.actions_enabled:
            for action in actions:
                self._act(alarm, action, old)
        notifications.state_change_event(alarm, old, old_reason, old_data)
        for composite in list(self.alarms.values()):  # the composite alarms that read this one
            if composite.rule is not None and composite is not alarm and alarm.name in children(composite.rule):
                self._evaluate_composite(composite, alarm, "transitioned")

    def _evaluate_composite(self, composite: Alarm, child: Alarm | None, why: str, depth: int = 0) -> None:
        """Evaluate a composite alarm's rule; a change of its state is a transition like any other."""
        if depth > 10:  # rules cannot form a cycle on AWS; never loop here either
            return
        try:
            holds = evaluate_rule(str(composite.rule),
                                  lambda name: getattr(self.alarms.get(name), "state_value", None))
        except RuleError as e:
            data: dict[str, Any] = {}
            new_state, reason = INSUFFICIENT, f"Unchecked: {e}"
        else:
            new_state = "ALARM" if holds else "OK"
            now = datetime.now(UTC)
            if child is None:
                reason = f"{composite.alarm_arn} was {why} and its alarm rule evaluates to {new_state}"
                data = {}
            else:
                reason = (f"{child.alarm_arn} transitioned to {child.state_value} at "
                          f"{now:%A %d %B, %Y %H:%M:%S} UTC")
                data = {"triggeringAlarms": [{"arn": child.alarm_arn, "state": {
                    "value": child.state_value, "timestamp": notifications.stamp(child.state_updated_timestamp)}}]}
        if new_state == composite.state_value:
            return
        old, old_reason, old_data = composite.state_value, composite.state_reason, composite.state_reason_data
        composite.state_value, composite.state_reason = new_state, reason
        composite.state_reason_data = json.dumps(data) if data else "{}"
        composite.state_updated_timestamp = datetime.now(UTC)
        self._changed(composite, old, old_reason, old_data)

    def _act(self, alarm: Alarm, action: str, old: str) -> None:
        if action.split(":")[2:3] == ["sns"]:
            notifications.publish_alarm(alarm, action, old, self.account_id)
            self._history(alarm, "Action", f"Successfully executed action {action}", {
                "actionState": "Succeeded", "notificationResource": action,
                "stateUpdateTimestamp": int(alarm.state_updated_timestamp.timestamp() * 1000),
                "publishedMessage": None})
        else:
            self._history(alarm, "Action", f"Failed to execute action {action}", {
                "actionState": "Failed", "error": "localcloud runs SNS topic actions only"})

    def _history(self, alarm: Alarm, item_type: str, summary: str, data: dict[str, Any]) -> None:
        items = self.histories.setdefault(alarm.name, [])
        items.append({"AlarmName": alarm.name, "AlarmType": "MetricAlarm" if alarm.rule is None else "CompositeAlarm",
                      "Timestamp": datetime.now(UTC), "HistoryItemType": item_type, "HistorySummary": summary,
                      "HistoryData": json.dumps(data)})
        del items[:-HISTORY_LIMIT]
