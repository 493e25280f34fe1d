"""`sagestack monitor`: Model Monitor on the stack's endpoint at a glance, through the AWS API.

The endpoint's monitoring schedules with their last execution, the violations that execution's
report lists (read from its output in S3), the latest values of the metrics the monitors publish
(per-feature drift, model quality) and the state of the stack's alarms.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
from botocore.exceptions import ClientError

from infra.namespaces import DATA_METRICS, MODEL_METRICS
from sagestack import render
from sagestack.context import App, pass_app
from sagestack.views.collect import metric_names


def _violations(app: App, job_arn: str) -> list[dict[str, Any]]:
    """The violations in a monitoring job's report (its first output's constraint_violations.json)."""
    job = app.sagemaker.describe_processing_job(ProcessingJobName=job_arn.rsplit("/", 1)[-1])
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    if not outputs:
        return []
    bucket, _, key = outputs[0]["S3Output"]["S3Uri"].removeprefix("s3://").partition("/")
    try:
        body = app.client("s3").get_object(Bucket=bucket, Key=f"{key.rstrip('/')}/constraint_violations.json")
    except ClientError:
        return []
    return list(json.loads(body["Body"].read()).get("violations") or [])


FINISHED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


def last_finished(app: App, schedule: str) -> dict[str, Any]:
    """The schedule's most recent execution that has ended ({} if none): the one worth reporting
    while the next is running."""
    executions = app.sagemaker.list_monitoring_executions(
        MonitoringScheduleName=schedule, SortBy="ScheduledTime", SortOrder="Descending",
        MaxResults=20)["MonitoringExecutionSummaries"]
    return next((dict(e) for e in executions if e["MonitoringExecutionStatus"] in FINISHED), {})


def _latest(app: App, namespace: str, dimensions: list[dict[str, str]], prefix: str = "") -> dict[str, float]:
    """Metric name -> its latest value (last 2 days) among the namespace's metrics with these dimensions."""
    cw = app.client("cloudwatch")
    names = [name for name in metric_names(cw, namespace, dimensions) if name.startswith(prefix)]
    found: dict[str, float] = {}
    now = time.time()
    for name in sorted(set(names)):
        points = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dimensions,
                                          StartTime=now - 2 * 86400, EndTime=now + 60, Period=60,
                                          Statistics=["Maximum"])["Datapoints"]
        if points:
            found[name] = float(max(points, key=lambda p: p["Timestamp"])["Maximum"])
    return found


@click.command()
@pass_app
def monitor(app: App) -> None:
    """Monitoring schedules, last executions, violations, metric values and alarms of the stack's endpoint."""
    endpoint = app.settings.need("endpoint_name")
    schedules = app.sagemaker.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"]
    if not schedules:
        app.out.print(f"no monitoring schedule on endpoint {endpoint} (`sagestack endpoint deploy` makes the "
                      f"stack's data-quality schedule)")
    rows = render.table("schedule", "type", "status", "last finished execution", "when", "detail",
                        title=f"monitoring schedules of {endpoint}")
    reports: list[tuple[str, list[dict[str, Any]]]] = []
    for summary in schedules:
        name = summary["MonitoringScheduleName"]
        described = app.sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
        last = last_finished(app, name)
        running = (described.get("LastMonitoringExecutionSummary") or {}).get("MonitoringExecutionStatus") in (
            "Pending", "InProgress")
        rows.add_row(name, described.get("MonitoringType", "-"), described["MonitoringScheduleStatus"],
                     last.get("MonitoringExecutionStatus", "none yet") + (" (next one running)" if running else ""),
                     str(last.get("ScheduledTime", ""))[:19],
                     render.one_line_reason(last.get("FailureReason", "")))
        if last.get("ProcessingJobArn") and last.get("MonitoringExecutionStatus") == "CompletedWithViolations":
            reports.append((name, _violations(app, last["ProcessingJobArn"])))
        dims = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": name}]
        for namespace, prefix in ((DATA_METRICS, "feature_baseline_drift_"), (MODEL_METRICS, "")):
            values = _latest(app, namespace, dims, prefix)
            if values:
                reports.append((f"{name}: latest {namespace.rsplit('/', 1)[-1]}",
                                [{"feature_name": k.removeprefix(prefix), "description": render.metric(v)}
                                 for k, v in values.items()]))
    if schedules:
        app.out.print(rows)
    for title, items in reports:
        table = render.table("feature / metric", "check", "detail", title=title)
        for item in items:
            table.add_row(item.get("feature_name") or item.get("metric_name") or "-",
                          item.get("constraint_check_type", ""), item.get("description", ""))
        app.out.print(table)
    alarms = render.table("alarm", "state", "since", "reason", title="the stack's alarms (they notify its alert topic)")
    topic = app.settings.need("alert_topic_arn")
    for alarm in app.client("cloudwatch").describe_alarms(ActionPrefix=topic)["MetricAlarms"]:
        state = alarm["StateValue"]
        alarms.add_row(alarm["AlarmName"], f"[{render.STATE_COLOURS.get(state, 'white')}]{state}[/]",
                       str(alarm.get("StateUpdatedTimestamp", ""))[:19], render.one_line_reason(alarm["StateReason"]))
    app.out.print(alarms)
