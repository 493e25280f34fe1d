"""What the report shows, read through the AWS API only, so it works against localcloud and AWS alike.

Each section (pipeline runs and one execution in detail, model versions and one in detail, the
endpoint, the monitors, alarms, alerts) is collected on its own: an AWS error or a missing
resource in one becomes a one-line problem shown in that section's place, never a failed report.
A console page reads only its own sections. Finished pipeline runs, finished jobs and a version's
description (until its approval changes) never change, so what was read about them is kept for
the next collection (the console collects again and again), and what is new is read in parallel.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.namespaces import DATA_METRICS, MODEL_METRICS
from sagestack import approvals, registry
from sagestack.alerts_cmds import describe as describe_alert
from sagestack.errors import SagestackError, is_not_found, one_line
from sagestack.views import execution_detail, lineage, serving
from sagestack.views.documents import Documents

RUNS = 50
"""Pipeline executions shown (the newest)."""
VERSIONS = 50
"""Model package versions shown (the highest)."""
HISTORY = 500
"""Alarm state changes shown (the newest)."""
FINISHED_RUNS = ("Succeeded", "Failed", "Stopped")
ANALYSED = ("Completed", "CompletedWithViolations")
"""Monitoring runs that analysed data (a run over an hour without traffic fails: "no data")."""
DRIFT_PREFIX = "feature_baseline_drift_"
SECTIONS = ("runs", "execution", "versions", "version", "endpoint", "monitors", "alarms", "alerts")
"""Every section a snapshot may hold (each is a template under templates/sections/)."""
PARALLEL = 8
"""AWS calls made at once when many things are new (runs, versions)."""


@dataclass
class PipelineRun:
    id: str
    status: str
    started: datetime | None
    ended: datetime | None
    started_by: str
    version: int | None
    """The model package version the run registered, if it did."""
    metrics: dict[str, float]
    """The Evaluate step's test metrics (evaluation.json), if it ran."""
    failure: str = ""


@dataclass
class ModelVersion:
    version: int
    approval: str
    created: datetime | None
    metrics: dict[str, float]
    comment: str
    run: str = ""
    """The pipeline execution that registered it (when it is among the runs shown)."""


@dataclass
class Bucket:
    lower: float
    upper: float
    share: float
    """The fraction of the dataset's values in [lower, upper)."""


@dataclass
class FeatureDistribution:
    name: str
    baseline: list[Bucket]
    window: list[Bucket]
    distance: float | None
    """The latest `feature_baseline_drift_<name>` the monitor published."""


@dataclass
class Series:
    name: str
    times: list[datetime]
    values: list[float]


@dataclass
class Monitor:
    schedule: str
    kind: str
    """DataQuality or ModelQuality."""
    status: str
    last: dict[str, Any]
    """The summary of the last run that analysed data ({} before the first): its report is shown."""
    executions: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    series: list[Series]
    threshold: float | None
    """What the stack's alarm on these metrics compares with (drift distance, rmse)."""
    features: list[FeatureDistribution] = field(default_factory=list)


@dataclass
class AlarmState:
    name: str
    kind: str
    state: str
    since: datetime | None
    reason: str


@dataclass
class AlarmChange:
    when: datetime
    alarm: str
    old: str
    new: str
    reason: str


@dataclass
class Alert:
    when: str
    what: str
    details: str


@dataclass
class Snapshot:
    """Everything one report shows; `problems` holds, per section, why it could not be read."""

    stack: str
    endpoint: str
    pipeline: str
    target: str
    taken: datetime
    runs: list[PipelineRun] = field(default_factory=list)
    versions: list[ModelVersion] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)
    alarms: list[AlarmState] = field(default_factory=list)
    timeline: list[AlarmChange] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    definition: dict[str, Any] = field(default_factory=dict)
    """The pipeline's definition (DescribePipeline), drawn as a graph of the execution shown."""
    pipeline_arn: str = ""
    execution: execution_detail.ExecutionDetail | None = None
    """The execution shown in detail (the one asked for, else the latest)."""
    model: lineage.VersionDetail | None = None
    """The model version shown in detail (the one asked for, else the highest)."""
    serving: serving.EndpointView | None = None
    problems: dict[str, str] = field(default_factory=dict)


def _problem(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return one_line(f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}", 300)
    return one_line(str(error) or type(error).__name__, 300)


class Collector:
    """Reads a Snapshot with one set of clients (`client(service)` returns a boto3 client)."""

    def __init__(self, client: Callable[[str], Any], deployer: str = ""):
        """`deployer`: the stack's model-deploying function, whose verdicts a version's history shows."""
        self.client, self.deployer = _one_each(client), deployer
        self.documents = Documents(self.client)
        self.jobs = execution_detail.JobCache()
        self._lock = threading.Lock()
        self._finished_runs: dict[str, PipelineRun] = {}
        self._versions: dict[tuple[str, str], ModelVersion] = {}

    # ------------------------------------------------------------------ the whole
    def snapshot(self, *, stack: str, target: str, pipeline: str, group: str, endpoint: str, topic: str,
                 queue: str, sections: Collection[str] = SECTIONS, execution: str | None = None,
                 step: str | None = None, version: str | None = None) -> Snapshot:
        """The named sections; `execution` (an id), `step` and `version` pick what is shown in detail."""
        snap = Snapshot(stack=stack, endpoint=endpoint, pipeline=pipeline, target=target, taken=datetime.now(UTC))
        wanted = set(sections)
        reads: list[tuple[str, Callable[[], None]]] = [
            ("runs", lambda: snap.runs.extend(self.runs(pipeline))),
            ("runs", lambda: self._definition(snap)),
            ("execution", lambda: setattr(snap, "execution", self.execution(snap, execution, step))),
            ("versions", lambda: snap.versions.extend(self.versions(group))),
            ("version", lambda: setattr(snap, "model", self.version(group, endpoint, version))),
            ("endpoint", lambda: setattr(snap, "serving", self.endpoint(endpoint))),
            ("monitors", lambda: snap.monitors.extend(self.monitors(endpoint))),
            ("alarms", lambda: snap.alarms.extend(self.alarms(topic))),
            ("timeline", lambda: snap.timeline.extend(self.timeline([a.name for a in snap.alarms]))),
            ("alerts", lambda: snap.alerts.extend(self.alerts(queue))),
        ]
        if "execution" in wanted:
            wanted.add("runs")  # the execution shown is one of the runs, drawn on the definition's graph
        if "alarms" in wanted:
            wanted.add("timeline")  # shown in the alarms section, a problem of its own
        for name, read in reads:
            if name not in wanted or name in snap.problems:
                continue
            try:
                read()
            except (ClientError, BotoCoreError, KeyError, ValueError, LookupError, SagestackError) as e:
                snap.problems[name] = _problem(e)
        return snap

    def _each(self, read: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """read(item) for every item, in order, PARALLEL at a time."""
        items = list(items)
        if len(items) <= 1:
            return [read(item) for item in items]
        with ThreadPoolExecutor(min(PARALLEL, len(items))) as pool:
            return list(pool.map(read, items))

    def _job_output(self, job_arn: str, name: str | None = None) -> str:
        """The S3 URI of a processing job's output `name` (its first output when None), or ""."""
        job = self.jobs.job(self.client("sagemaker"), "ProcessingJob", job_arn.rsplit("/", 1)[-1])
        for output in (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            if name is None or output.get("OutputName") == name:
                return str(output["S3Output"]["S3Uri"]).rstrip("/")
        return ""

    # ------------------------------------------------------------------ pipeline runs and versions
    def runs(self, pipeline: str) -> list[PipelineRun]:
        sm = self.client("sagemaker")
        summaries = sm.list_pipeline_executions(PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending",
                                                MaxResults=RUNS)["PipelineExecutionSummaries"]

        def read(arn: str) -> PipelineRun:
            run = self._finished_runs.get(arn) or self._run(arn)
            if run.status in FINISHED_RUNS:
                with self._lock:
                    self._finished_runs[arn] = run
            return run

        return self._each(read, [s["PipelineExecutionArn"] for s in summaries])

    def _definition(self, snap: Snapshot) -> None:
        described = self.client("sagemaker").describe_pipeline(PipelineName=snap.pipeline)
        snap.pipeline_arn = str(described["PipelineArn"])
        snap.definition.update(json.loads(described.get("PipelineDefinition") or "{}"))

    def execution(self, snap: Snapshot, execution: str | None,
                  step: str | None) -> execution_detail.ExecutionDetail | None:
        """Execution `execution` of the snapshot's pipeline (by id), else its latest; None before the first."""
        if execution is None:
            if not snap.runs:
                return None
            execution = snap.runs[0].id
        if not execution_detail.EXECUTION_ID.fullmatch(execution):
            raise LookupError(f"{execution!r} is not a pipeline execution id")
        return execution_detail.read(self.client, self.jobs, f"{snap.pipeline_arn}/execution/{execution}", step)

    def _run(self, arn: str) -> PipelineRun:
        sm = self.client("sagemaker")
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        version, metrics = None, {}
        for step in steps:
            metadata = step.get("Metadata") or {}
            if "RegisterModel" in metadata:
                version = int(str(metadata["RegisterModel"]["Arn"]).rsplit("/", 1)[-1])
            job = (metadata.get("ProcessingJob") or {}).get("Arn")
            uri = self._job_output(job, "evaluation") if job and step.get("StepStatus") == "Succeeded" else ""
            if uri:  # the step whose output is the evaluation report
                metrics = registry.metric_values(self.documents.json(f"{uri}/evaluation.json", keep=True))
        status = described["PipelineExecutionStatus"]
        return PipelineRun(
            id=arn.rsplit("/", 1)[-1], status=status, started=described.get("CreationTime"),
            ended=described.get("LastModifiedTime") if status in FINISHED_RUNS else None,
            started_by=described.get("PipelineExecutionDescription") or described.get(
                "PipelineExecutionDisplayName") or "", version=version, metrics=metrics,
            failure=described.get("FailureReason") or "")

    def versions(self, group: str) -> list[ModelVersion]:
        """The highest VERSIONS versions; a version's row is read again only when its approval changed."""
        sm = self.client("sagemaker")

        def read(package: dict[str, Any]) -> ModelVersion:
            key = (str(package["ModelPackageArn"]), str(package.get("ModelApprovalStatus", "-")))
            if key in self._versions:
                return self._versions[key]
            described = sm.describe_model_package(ModelPackageName=key[0])
            evaluation = ((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
            row = ModelVersion(
                version=int(package.get("ModelPackageVersion") or 0), approval=key[1],
                created=package.get("CreationTime"),
                metrics=registry.metric_values(self.documents.json(str(evaluation.get("S3Uri") or ""), keep=True)),
                comment=described.get("ApprovalDescription") or "", run=lineage.execution_of(described))
            with self._lock:
                self._versions[key] = row
            return row

        return self._each(read, registry.packages(sm, group)[:VERSIONS])

    def forget_version(self, arn: str) -> None:
        """A version's approval was changed from here: read its row again (the comment may be new)."""
        with self._lock:
            self._versions = {k: v for k, v in self._versions.items() if k[0] != arn}

    def version(self, group: str, endpoint: str, version: str | None) -> lineage.VersionDetail | None:
        """Version `version` (a number) of the group in detail, else its highest; None before the first."""
        sm = self.client("sagemaker")
        if version is None:
            found = registry.packages(sm, group)
            if not found:
                return None
            package = found[0]
        elif not version.isdigit():
            raise LookupError(f"{version!r} is not a model version number")
        else:
            package = registry.resolve(sm, group, version)
        arn = str(package["ModelPackageArn"])
        verdict = None
        if self.deployer and package.get("ModelApprovalStatus") == "Approved" and package.get("CreationTime"):
            verdict = approvals.verdict(self.client("logs"), self.deployer, arn, package["CreationTime"])
        return lineage.read(sm, self.documents, arn, verdict, self._served(endpoint))

    def _served(self, endpoint: str) -> dict[str, str] | None:
        """The endpoint's variants and the packages they serve; None when it does not exist."""
        try:
            described = self.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        return registry.served_packages(self.client("sagemaker"), described["EndpointConfigName"])

    def endpoint(self, endpoint: str) -> serving.EndpointView | None:
        """The endpoint, or None when it does not exist (never deployed, or deleted)."""
        try:
            return serving.read(self.client, endpoint)
        except ClientError as e:
            if is_not_found(e):
                return None
            raise

    # ------------------------------------------------------------------ monitors
    def monitors(self, endpoint: str) -> list[Monitor]:
        sm = self.client("sagemaker")
        schedules = sm.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"]
        thresholds = self._alarm_thresholds()
        found = []
        for summary in sorted(schedules, key=lambda s: s["MonitoringScheduleName"]):
            name = summary["MonitoringScheduleName"]
            described = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
            kind = described.get("MonitoringType") or "DataQuality"
            executions = sm.list_monitoring_executions(MonitoringScheduleName=name, SortBy="ScheduledTime",
                                                       SortOrder="Descending", MaxResults=100)[
                "MonitoringExecutionSummaries"]
            last = next((dict(e) for e in executions if e["MonitoringExecutionStatus"] in ANALYSED), {})
            report = self._job_output(last["ProcessingJobArn"]) if last.get("ProcessingJobArn") else ""
            violations = (self.documents.json(f"{report}/constraint_violations.json", keep=True) or {}).get(
                "violations") or [] \
                if report and last.get("MonitoringExecutionStatus") == "CompletedWithViolations" else []
            dimensions = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": name}]
            namespace = MODEL_METRICS if kind == "ModelQuality" else DATA_METRICS
            since = min((e["ScheduledTime"] for e in executions), default=datetime.now(UTC)) + _window_start(
                described) - timedelta(minutes=1)
            series = [s for s in self._series(namespace, dimensions, since)
                      if kind == "ModelQuality" or s.name.startswith(DRIFT_PREFIX)]
            monitor = Monitor(schedule=name, kind=kind, status=described["MonitoringScheduleStatus"], last=last,
                              executions=[dict(e) for e in executions[:20]], violations=list(violations),
                              series=series, threshold=thresholds.get(("rmse" if kind == "ModelQuality" else
                                                                       DRIFT_PREFIX, name)))
            if kind == "DataQuality" and report:
                monitor.features = self._distributions(described, f"{report}/statistics.json", series)
            found.append(monitor)
        return found

    def _alarm_thresholds(self) -> dict[tuple[str, str], float]:
        """(metric name or the drift prefix, monitoring schedule) -> the threshold of the alarm watching it."""
        found: dict[tuple[str, str], float] = {}
        for alarm in self.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm"])["MetricAlarms"]:
            stats = [alarm.get("MetricName") and alarm] + [
                q.get("MetricStat", {}).get("Metric") for q in alarm.get("Metrics") or [] if q.get("MetricStat")]
            for metric in filter(None, stats):
                schedule = next((d["Value"] for d in metric.get("Dimensions") or []
                                 if d["Name"] == "MonitoringSchedule"), None)
                name = str(metric.get("MetricName") or "")
                if schedule and "Threshold" in alarm:
                    key = DRIFT_PREFIX if name.startswith(DRIFT_PREFIX) else name
                    found[(key, schedule)] = float(alarm["Threshold"])
        return found

    def _series(self, namespace: str, dimensions: list[dict[str, str]], since: datetime) -> list[Series]:
        """Every metric of the monitor since `since`, a point per value it published.

        One-second periods while that lies within the last three hours (CloudWatch's rule for
        short periods), so runs minutes apart (localcloud's fast clock) stay apart; minutes beyond.
        """
        cw = self.client("cloudwatch")
        names = sorted(metric_names(cw, namespace, dimensions))
        if not names:
            return []
        now = datetime.now(UTC)
        since = max(since, now - timedelta(days=14))
        period = 1 if now - since <= timedelta(hours=3) else 60
        queries = [{"Id": f"m{i}", "Label": name, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
            "Period": period, "Stat": "Maximum"}} for i, name in enumerate(names)]
        found = []
        for start in range(0, len(queries), 500):
            answer = cw.get_metric_data(MetricDataQueries=queries[start:start + 500], StartTime=since,
                                        EndTime=now + timedelta(minutes=1), ScanBy="TimestampAscending")
            for result in answer["MetricDataResults"]:
                found.append(Series(result["Label"], list(result["Timestamps"]), [float(v) for v in result["Values"]]))
        return found

    def _distributions(self, schedule: dict[str, Any], window_uri: str,
                       series: list[Series]) -> list[FeatureDistribution]:
        """Per numeric feature, the baseline's and the last window's histograms (statistics.json's buckets)."""
        definition_name = schedule["MonitoringScheduleConfig"].get("MonitoringJobDefinitionName")
        if not definition_name:
            return []
        definition = self.client("sagemaker").describe_data_quality_job_definition(JobDefinitionName=definition_name)
        baseline_uri = (((definition.get("DataQualityBaselineConfig") or {}).get("StatisticsResource") or {})
                        .get("S3Uri") or "")
        baseline = _features(self.documents.json(baseline_uri, keep=True))
        window = _features(self.documents.json(window_uri, keep=True))
        latest = {s.name.removeprefix(DRIFT_PREFIX): s.values[-1] for s in series if s.values}
        return [FeatureDistribution(name, baseline[name], window.get(name, []), latest.get(name))
                for name in sorted(baseline)]

    # ------------------------------------------------------------------ alarms and alerts
    def alarms(self, topic: str) -> list[AlarmState]:
        """The alarms that notify the stack's topic, and the composite alarms that read them."""
        cw = self.client("cloudwatch")
        described = cw.describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=100)
        notifying = [a for a in described["MetricAlarms"] if topic in (a.get("AlarmActions") or [])]
        names = {a["AlarmName"] for a in notifying}
        arns = {a["AlarmArn"] for a in notifying}
        composites = [a for a in described["CompositeAlarms"] if topic in (a.get("AlarmActions") or [])
                      or any(n in a.get("AlarmRule", "") for n in names | arns)]
        return [AlarmState(a["AlarmName"], kind, a["StateValue"], a.get("StateUpdatedTimestamp"),
                           a.get("StateReason", ""))
                for kind, group in (("metric", notifying), ("composite", composites)) for a in group]

    def timeline(self, alarms: list[str]) -> list[AlarmChange]:
        cw = self.client("cloudwatch")
        changes = []
        for name in alarms:
            items = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=100)[
                "AlarmHistoryItems"]
            for item in items:
                try:
                    data = json.loads(item.get("HistoryData") or "{}")
                except ValueError:
                    data = {}
                changes.append(AlarmChange(item["Timestamp"], name, str(data.get("oldState", {}).get("stateValue", "")),
                                           str(data.get("newState", {}).get("stateValue", "")),
                                           str(data.get("newState", {}).get("stateReason") or item.get(
                                               "HistorySummary", ""))))
        return sorted(changes, key=lambda c: c.when)[-HISTORY:]

    def alerts(self, queue: str) -> list[Alert]:
        """The alert inbox, left as it was: what is read is made visible again at once."""
        return [Alert(*describe_alert(body)) for body in peek(self.client("sqs"), queue)]


def _one_each(client: Callable[[str], Any]) -> Callable[[str], Any]:
    """One client per service, made once even when threads ask at once (making one is not thread-safe,
    using one is)."""
    made: dict[str, Any] = {}
    lock = threading.Lock()

    def get(service: str) -> Any:
        with lock:
            if service not in made:
                made[service] = client(service)
            return made[service]

    return get


_OFFSET = re.compile(r"^-PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def _window_start(schedule: dict[str, Any]) -> timedelta:
    """Where a run's window starts, relative to when it was scheduled (its metrics carry that time):
    the schedule's DataAnalysisStartTime (`-PT1H`, `-PT24H`...), else the hour before the run."""
    offset = str(((schedule.get("MonitoringScheduleConfig") or {}).get("ScheduleConfig") or {}).get(
        "DataAnalysisStartTime") or "")
    match = _OFFSET.match(offset)
    if not match:
        return -timedelta(hours=1)
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return -timedelta(hours=hours, minutes=minutes, seconds=seconds)


def metric_names(cw: Any, namespace: str, dimensions: list[dict[str, str]]) -> set[str]:
    """The names of the namespace's metrics with exactly these dimensions (every page of ListMetrics)."""
    return {m["MetricName"] for page in cw.get_paginator("list_metrics").paginate(
        Namespace=namespace, Dimensions=dimensions) for m in page["Metrics"]
        if len(m.get("Dimensions") or []) == len(dimensions)}


def peek(sqs: Any, url: str, limit: int = 200) -> list[str]:
    """The queue's messages (bodies, oldest first as received), leaving every one in the queue."""
    bodies: list[str] = []
    handles: list[str] = []
    try:
        while len(bodies) < limit:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                        VisibilityTimeout=30).get("Messages", [])
            if not batch:
                break
            for message in batch:
                bodies.append(message.get("Body", ""))
                handles.append(message["ReceiptHandle"])
    finally:
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return bodies


def _features(statistics: Any) -> dict[str, list[Bucket]]:
    """Feature name -> its histogram as shares, from a statistics.json (numeric features with buckets)."""
    found: dict[str, list[Bucket]] = {}
    for feature in (statistics or {}).get("features") or [] if isinstance(statistics, dict) else []:
        buckets = ((((feature.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {})
                   .get("buckets") or [])
        total = sum(float(b.get("count") or 0) for b in buckets)
        if buckets and total > 0:
            found[str(feature.get("name"))] = [Bucket(float(b["lower_bound"]), float(b["upper_bound"]),
                                                      float(b["count"]) / total) for b in buckets]
    return found
