"""AWS::CloudWatch::Alarm and ::CompositeAlarm, which moto's CloudFormation skips: put through our CloudWatch."""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException

from localcloud.cloudformation.resource import ResourceFailed, ResourceType


def metric_queries(metrics: list[dict[str, Any]] | None) -> list[MetricDataQuery] | None:
    """The `Metrics` of a metric-math alarm as moto's model holds them.

    moto annotates these models' fields `str`, but all but the Id are optional in the API, and
    moto's own PutMetricAlarm handler passes None for those not given, as we do.
    """
    if not metrics:
        return None
    queries = []
    for metric in metrics:
        stat = metric.get("MetricStat")
        metric_stat = None
        if stat:
            inner = stat.get("Metric") or {}
            dimensions = [Dimension(d["Name"], d["Value"]) for d in inner.get("Dimensions") or []]
            metric_stat = MetricStat(Metric(inner.get("MetricName"), inner.get("Namespace"),  # type: ignore[arg-type]
                                            dimensions),
                                     stat.get("Period"), stat.get("Stat"), stat.get("Unit"))
        queries.append(MetricDataQuery(metric["Id"], metric.get("Label"), metric.get("Period"),  # type: ignore[arg-type]
                                       metric.get("ReturnData"), metric.get("Expression"),  # type: ignore[arg-type]
                                       metric_stat))
    return queries


class _PutAlarm:
    """What both alarm types share: each put (PutMetricAlarm, PutCompositeAlarm) creates or replaces in place.

    A mixin beside ResourceType, not a subclass of it: the registry takes ResourceType's direct
    subclasses as the types."""

    NAME_PROPERTY = "AlarmName"
    physical_id: str
    account_id: str
    region: str
    properties: dict[str, Any]

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        alarm = cls._put(name, properties, account_id, region)
        return cls(name, account_id, region, properties, {"Arn": alarm.alarm_arn})  # type: ignore[call-arg]

    @staticmethod
    def _put(name: str, p: dict[str, Any], account_id: str, region: str) -> Any:
        raise NotImplementedError

    def update(self, name: str, properties: dict[str, Any]) -> Any:
        self._put(self.physical_id, properties, self.account_id, self.region)
        self.properties = properties
        return self

    def remove(self) -> None:
        cloudwatch_backends[self.account_id][self.region].delete_alarms([self.physical_id])


class Alarm(_PutAlarm, ResourceType, CloudFormationModel):
    TYPE = "AWS::CloudWatch::Alarm"

    @staticmethod
    def _put(name: str, p: dict[str, Any], account_id: str, region: str) -> Any:
        def number(key: str) -> int | None:
            return int(p[key]) if p.get(key) is not None else None

        # moto annotates namespace, metric_name, period, threshold, statistic and description as required,
        # but the API leaves them optional (a metric-math alarm has none), and moto's own handler passes None.
        return cloudwatch_backends[account_id][region].put_metric_alarm(
            name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),  # type: ignore[arg-type]
            comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]),
            period=number("Period"),  # type: ignore[arg-type]
            threshold=float(p["Threshold"]) if p.get("Threshold") is not None else None,  # type: ignore[arg-type]
            statistic=p.get("Statistic"), description=p.get("AlarmDescription"),  # type: ignore[arg-type]
            dimensions=p.get("Dimensions") or [],
            alarm_actions=p.get("AlarmActions") or [], metric_data_queries=metric_queries(p.get("Metrics")),
            datapoints_to_alarm=number("DatapointsToAlarm"), extended_statistic=p.get("ExtendedStatistic"),
            ok_actions=p.get("OKActions") or [], insufficient_data_actions=p.get("InsufficientDataActions") or [],
            unit=p.get("Unit"), actions_enabled=str(p.get("ActionsEnabled", True)).lower() != "false",
            treat_missing_data=p.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=p.get("ThresholdMetricId"), tags=p.get("Tags") or [])


class CompositeAlarm(_PutAlarm, ResourceType, CloudFormationModel):
    """A composite alarm: its AlarmRule reads other alarms (CloudFormation orders them first when
    the rule names them through `Fn::GetAtt`/`Ref`, as CDK's `AlarmRule.fromAlarm` does)."""

    TYPE = "AWS::CloudWatch::CompositeAlarm"

    @staticmethod
    def _put(name: str, p: dict[str, Any], account_id: str, region: str) -> Any:
        try:  # the same call PutCompositeAlarm makes: a metric alarm's fields left empty, the rule set
            return cloudwatch_backends[account_id][region].put_metric_alarm(
                name=name, namespace=None, metric_name=None, comparison_operator=None,  # type: ignore[arg-type]
                evaluation_periods=None, period=None, threshold=None, statistic=None,  # type: ignore[arg-type]
                description=p.get("AlarmDescription", ""), dimensions=[], alarm_actions=p.get("AlarmActions") or [],
                ok_actions=p.get("OKActions") or [], insufficient_data_actions=p.get("InsufficientDataActions") or [],
                actions_enabled=str(p.get("ActionsEnabled", True)).lower() != "false", rule=p["AlarmRule"],
                tags=p.get("Tags") or [])
        except ServiceException as e:  # a rule CloudWatch refuses: the resource fails with CloudWatch's words
            raise ResourceFailed(e.message) from None
