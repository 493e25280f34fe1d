"""The CloudWatch API layer: moto's response class plus the actions moto lacks (DescribeAlarmHistory,
PutCompositeAlarm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moto.cloudwatch.models import cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult

if TYPE_CHECKING:
    from localcloud.cloudwatch.backend import LocalCloudWatchBackend


class LocalCloudWatchResponse(CloudWatchResponse):
    @property
    def local_backend(self) -> LocalCloudWatchBackend:
        # moto types its registry with its own class; localcloud.extensions fills it with ours
        return cloudwatch_backends[self.current_account][self.region]  # type: ignore[return-value]

    def describe_alarm_history(self) -> ActionResult:
        items = self.local_backend.describe_alarm_history(
            self._get_param("AlarmName"), self._get_param("HistoryItemType"), self._get_param("StartDate"),
            self._get_param("EndDate"), self._get_param("ScanBy"))
        limit = int(self._get_param("MaxRecords") or 100)
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    def put_composite_alarm(self) -> EmptyResult:
        enabled = self._get_param("ActionsEnabled")
        self.local_backend.put_metric_alarm(
            name=self._get_param("AlarmName"), namespace=None, metric_name=None, comparison_operator=None,
            evaluation_periods=None, period=None, threshold=None, statistic=None,
            description=self._get_param("AlarmDescription"), dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []), ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            actions_enabled=True if enabled is None else str(enabled).lower() in ("true", "1"),
            rule=self._get_param("AlarmRule"), tags=self._get_param("Tags", []))
        return EmptyResult()

