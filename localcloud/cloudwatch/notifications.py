"""What CloudWatch sends when an alarm changes state: the SNS message and the EventBridge event.

Formats as AWS documents them (the alarm notification JSON with its `Trigger`, the
`CloudWatch Alarm State Change` event), sent through the AWS API (`localcloud.delivery`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

from moto.cloudwatch.models import Alarm

from localcloud.cloudwatch.evaluation import iso
from localcloud.delivery import publish_event, publish_sns

__all__ = ["alarm_message", "publish_alarm", "region_name", "stamp", "state_change_event"]


def stamp(when: datetime | None) -> str:
    """CloudWatch's time format (evaluation.iso) of a datetime; now when None."""
    return iso((when or datetime.now(UTC)).timestamp())


@cache
def region_name(region: str) -> str:
    """`us-east-1` -> `US East (N. Virginia)`, from botocore's endpoint data."""
    from botocore.loaders import create_loader

    for partition in create_loader().load_data("endpoints")["partitions"]:
        described = partition.get("regions", {}).get(region)
        if described and described.get("description"):
            # CloudWatch still writes "EU (Ireland)" where botocore says "Europe (Ireland)"
            return str(described["description"]).replace("Europe (", "EU (")
    return region


def _dimensions(alarm: Alarm) -> list[dict[str, str | None]]:
    return [{"value": d.value, "name": d.name} for d in alarm.dimensions]


def _trigger(alarm: Alarm) -> dict[str, Any]:
    """The notification's Trigger, with its keys in the order CloudWatch writes them."""
    trigger: dict[str, Any] = {}
    if not alarm.metric_data_queries:
        trigger.update(MetricName=alarm.metric_name, Namespace=alarm.namespace)
        if alarm.extended_statistic:
            trigger.update(StatisticType="ExtendedStatistic", ExtendedStatistic=alarm.extended_statistic)
        else:
            trigger.update(StatisticType="Statistic", Statistic=str(alarm.statistic or "").upper())
        trigger.update(Unit=alarm.unit, Dimensions=_dimensions(alarm))
    stats = [q.metric_stat for q in alarm.metric_data_queries or [] if q.metric_stat is not None]
    trigger.update(Period=int(alarm.period or (stats[0].period if stats else 0) or 60),
                   EvaluationPeriods=int(alarm.evaluation_periods))
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    trigger.update(ComparisonOperator=alarm.comparison_operator, Threshold=float(alarm.threshold or 0.0),
                   TreatMissingData=alarm.treat_missing_data or "missing",
                   EvaluateLowSampleCountPercentile=alarm.evaluate_low_sample_count_percentile or "")
    if alarm.metric_data_queries:
        trigger["Metrics"] = [_query(q) for q in alarm.metric_data_queries]
    return trigger


def _query(query: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": query.id, "ReturnData": str(query.return_data).lower() in ("true", "1")}
    if query.label:
        out["Label"] = query.label
    if query.expression:
        out["Expression"] = query.expression
    if query.metric_stat is not None:
        stat = query.metric_stat
        out["MetricStat"] = {"Metric": {"Namespace": stat.metric.namespace, "MetricName": stat.metric.metric_name,
                                        "Dimensions": [{"value": d.value, "name": d.name}
                                                       for d in stat.metric.dimensions]},
                             "Period": int(stat.period or 60), "Stat": stat.stat}
    return out


def alarm_message(alarm: Alarm, old_state: str, account: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS topics."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": stamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": stamp(alarm.state_updated_timestamp),
        "Region": region_name(alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        **({"AlarmRule": alarm.rule, "TriggeringChildren": _triggering(alarm)} if alarm.rule is not None
           else {"Trigger": _trigger(alarm)}),
    }


def _triggering(alarm: Alarm) -> list[dict[str, Any]]:
    """A composite alarm's children that caused its change (from its reason data)."""
    try:
        data = json.loads(alarm.state_reason_data or "{}")
    except ValueError:
        return []
    return [{"Arn": t.get("arn"), "State": {"Value": (t.get("state") or {}).get("value"),
                                            "Timestamp": (t.get("state") or {}).get("timestamp")}}
            for t in data.get("triggeringAlarms") or []]


def publish_alarm(alarm: Alarm, topic_arn: str, old_state: str, account: str) -> None:
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_name(alarm.region_name)}'
    publish_sns(topic_arn, json.dumps(alarm_message(alarm, old_state, account)), subject[:100])


def state_change_event(alarm: Alarm, old_state: str, old_reason: str, old_data: str) -> None:
    """Queue the `CloudWatch Alarm State Change` event (sent whether or not actions are enabled)."""
    configuration: dict[str, Any] = {"description": alarm.description or None}
    if alarm.rule is not None:
        configuration["alarmRule"] = alarm.rule
    elif alarm.metric_data_queries:
        configuration["metrics"] = [
            {"id": q.id, "returnData": str(q.return_data).lower() in ("true", "1"),
             **({"expression": q.expression} if q.expression else {}),
             **({"label": q.label} if q.label else {})} for q in alarm.metric_data_queries]
    else:
        stat = alarm.extended_statistic or alarm.statistic
        configuration["metrics"] = [{
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
            "metricStat": {"metric": {"namespace": alarm.namespace, "name": alarm.metric_name,
                                      "dimensions": {d.name: d.value for d in alarm.dimensions}},
                           "period": int(alarm.period or 60), "stat": stat},
            "returnData": True}]
    detail = {
        "alarmName": alarm.name,
        "state": {"value": alarm.state_value, "reason": alarm.state_reason,
                  "reasonData": alarm.state_reason_data or "{}", "timestamp": stamp(alarm.state_updated_timestamp)},
        "previousState": {"value": old_state, "reason": old_reason, "reasonData": old_data or "{}"},
        "configuration": configuration,
    }
    publish_event(alarm.region_name, {
        "Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change", "Detail": json.dumps(detail),
        "Resources": [alarm.alarm_arn], "Time": datetime.now(UTC)})
