"""Model Monitor's monitoring schedules: they run monitoring jobs on their schedule, as on AWS.

A schedule names a job definition (CreateDataQualityJobDefinition, or the older inline
MonitoringJobDefinition) and a ScheduleExpression: hourly `cron(0 * ? * * *)`, daily
`cron(0 H ? * * *)`, every N hours `cron(0 H/N ? * * *)`, or `NOW`, which runs once at once over
DataAnalysisStartTime..DataAnalysisEndTime (ISO 8601 offsets such as -PT1H). Hours run on
localcloud's clock (`--time-scale`), so an hourly schedule can fire every minute or second.

Each execution is a processing job built as AWS builds it: one input per captured hour of the
endpoint that overlaps the analysis window (at `<LocalPath>/<endpoint>/<variant>/yyyy/mm/dd/hh`),
the baseline files, the analyzer's environment (dataset_source, output_path, start_time, ...),
its reports to `<S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh`. A window without captured data
fails the execution with "Job inputs had no data" and starts no job. Model-quality schedules
(MonitoringType ModelQuality) also mount the ground truth's hour folders, from the window's start
on (labels arrive after the predictions), at /opt/ml/processing/groundtruth. The execution's status
follows its job: Completed, CompletedWithViolations (the analyzer's exit message says so),
Failed with the analyzer's reason, or Stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.sagemaker.exceptions import ResourceNotFound, ValidationError

from localcloud import aws, clock
from localcloud.sagemaker.work import PROCESSING
from localcloud.ticker import Ticker

if TYPE_CHECKING:
    from localcloud.sagemaker.backend import LocalSageMakerBackend

__all__ = ["MonitoringSchedules", "parse_offset", "parse_schedule", "start"]

log = logging.getLogger("localcloud.monitoring")

HOUR = 3600.0
_CRON = re.compile(r"cron\(0 (\*|\d{1,2}|\d{1,2}/\d{1,2}) \? \* \* \*\)")
_OFFSET = re.compile(r"-P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)")
_ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
BASELINE_DIR = "/opt/ml/processing/baseline"
RESULT_DIR = "/opt/ml/processing/resultdata"
GROUND_TRUTH_DIR = "/opt/ml/processing/groundtruth"


def parse_schedule(expression: str) -> tuple[int, int] | None:
    """`cron(0 H/N ? * * *)` -> (first hour H, every N hours); None for NOW. ValidationError otherwise."""
    if expression == "NOW":
        return None
    match = _CRON.fullmatch(expression or "")
    if match is None:
        raise ValidationError(f"Invalid ScheduleExpression {expression!r}: use NOW, cron(0 * ? * * *) (hourly), "
                              f"cron(0 H ? * * *) (daily at hour H) or cron(0 H/N ? * * *) (every N hours)")
    hours = match.group(1)
    if hours == "*":
        return 0, 1
    first, _, every = hours.partition("/")
    start, step = int(first), int(every or 24)
    if not (0 <= start <= 23 and 1 <= step <= 24):
        raise ValidationError(f"Invalid ScheduleExpression {expression!r}: hours 0-23, every 1-24 hours")
    return start, step


def parse_offset(text: str | None, default: float) -> float:
    """`-PT1H` -> -3600.0 (AWS seconds); `-PT0H` -> 0. ValidationError for anything else."""
    if not text:
        return default
    match = _OFFSET.fullmatch(text)
    if match is None or not any(match.groups()):
        raise ValidationError(f"Invalid analysis time offset {text!r}: use a negative ISO 8601 duration such as "
                              f"-PT1H or -PT30M")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return -float(hours * 3600 + minutes * 60 + seconds)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass
class Execution:
    schedule: str
    scheduled: float
    endpoint: str
    definition: str | None
    kind: str
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    status: str = "Pending"
    job_arn: str | None = None
    job_name: str | None = None
    failure_reason: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MonitoringScheduleName": self.schedule, "ScheduledTime": _dt(self.scheduled),
            "CreationTime": _dt(self.created), "LastModifiedTime": _dt(self.modified),
            "MonitoringExecutionStatus": self.status, "EndpointName": self.endpoint, "MonitoringType": self.kind}
        if self.job_arn:
            out["ProcessingJobArn"] = self.job_arn
        if self.definition:
            out["MonitoringJobDefinitionName"] = self.definition
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out


@dataclass
class Schedule:
    name: str
    arn: str
    config: dict[str, Any]
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    status: str = "Scheduled"
    executions: list[Execution] = field(default_factory=list)
    next_run: float | None = None
    failure_reason: str | None = None

    @property
    def kind(self) -> str:
        return str(self.config.get("MonitoringType") or "DataQuality")

    @property
    def definition_name(self) -> str | None:
        return self.config.get("MonitoringJobDefinitionName")

    def endpoint(self, definition: dict[str, Any]) -> str:
        return str(((definition.get("input") or {}).get("EndpointName")) or "")

    def describe(self, definition: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MonitoringScheduleArn": self.arn, "MonitoringScheduleName": self.name,
            "MonitoringScheduleStatus": self.status, "MonitoringType": self.kind,
            "CreationTime": _dt(self.created), "LastModifiedTime": _dt(self.modified),
            "MonitoringScheduleConfig": self.config}
        if definition is not None and self.endpoint(definition):
            out["EndpointName"] = self.endpoint(definition)
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.executions:
            out["LastMonitoringExecutionSummary"] = self.executions[-1].summary()
        return out


class MonitoringSchedules:
    """The monitoring schedules of one account and region, and the executions they start."""

    def __init__(self, backend: LocalSageMakerBackend):
        self.backend = backend
        self.schedules: dict[str, Schedule] = {}
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ API
    def create(self, name: str, config: dict[str, Any]) -> str:
        with self.lock:
            if name in self.schedules:
                raise ValidationError(f"Monitoring schedule {name} already exists")
            self._check(config)
            arn = f"arn:aws:sagemaker:{self.backend.region_name}:{self.backend.account_id}:monitoring-schedule/{name}"
            schedule = Schedule(name, arn, config)
            self._plan(schedule, time.time())
            self.schedules[name] = schedule
            return arn

    def get(self, name: str) -> Schedule:
        schedule = self.schedules.get(name)
        if schedule is None:
            raise ResourceNotFound(f"Monitoring schedule {name} not found")
        return schedule

    def describe(self, name: str) -> dict[str, Any]:
        with self.lock:
            schedule = self.get(name)
            return schedule.describe(self._definition_or_none(schedule))

    def summaries(self, endpoint: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for schedule in sorted(self.schedules.values(), key=lambda s: s.created, reverse=True):
                described = schedule.describe(self._definition_or_none(schedule))
                if endpoint and described.get("EndpointName") != endpoint:
                    continue
                if status and schedule.status != status:
                    continue
                out.append({k: described[k] for k in (
                    "MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
                    "MonitoringScheduleStatus", "EndpointName", "MonitoringType") if k in described}
                           | ({"MonitoringJobDefinitionName": schedule.definition_name}
                              if schedule.definition_name else {}))
            return out

    def update(self, name: str, config: dict[str, Any]) -> str:
        with self.lock:
            schedule = self.get(name)
            self._check(config)
            schedule.config, schedule.modified = config, time.time()
            if schedule.status == "Scheduled":
                self._plan(schedule, time.time())
            return schedule.arn

    def stop(self, name: str) -> None:
        with self.lock:
            schedule = self.get(name)
            schedule.status, schedule.next_run, schedule.modified = "Stopped", None, time.time()

    def start(self, name: str) -> None:
        with self.lock:
            schedule = self.get(name)
            if schedule.status != "Scheduled":
                schedule.status, schedule.modified = "Scheduled", time.time()
                self._plan(schedule, time.time())

    def delete(self, name: str) -> None:
        with self.lock:
            self.get(name)
            del self.schedules[name]

    def executions(self, schedule: str | None = None, endpoint: str | None = None, status: str | None = None,
                   sort_by: str | None = None, sort_order: str | None = None) -> list[dict[str, Any]]:
        """ListMonitoringExecutions: newest first unless asked otherwise (AWS sorts by CreationTime)."""
        with self.lock:
            found = [e for s in self.schedules.values() for e in s.executions
                     if (schedule is None or e.schedule == schedule) and (endpoint is None or e.endpoint == endpoint)
                     and (status is None or e.status == status)]
        summaries = [e.summary() for e in found]
        key = {"ScheduledTime": "ScheduledTime", "Status": "MonitoringExecutionStatus"}.get(sort_by or "",
                                                                                          "CreationTime")
        summaries.sort(key=lambda e: (e[key], e["ScheduledTime"]), reverse=(sort_order or "Descending") == "Descending")
        return summaries

    # ------------------------------------------------------------------ the schedule
    def _check(self, config: dict[str, Any]) -> None:
        schedule_config = config.get("ScheduleConfig") or {}
        expression = schedule_config.get("ScheduleExpression", "")
        once = parse_schedule(expression) is None
        start = parse_offset(schedule_config.get("DataAnalysisStartTime"), -HOUR)
        end = parse_offset(schedule_config.get("DataAnalysisEndTime"), 0.0)
        if once and not (schedule_config.get("DataAnalysisStartTime") and schedule_config.get("DataAnalysisEndTime")):
            raise ValidationError("A NOW schedule needs DataAnalysisStartTime and DataAnalysisEndTime")
        if start >= end or end - start > 24 * HOUR:
            raise ValidationError("DataAnalysisStartTime must come before DataAnalysisEndTime, at most 24 hours "
                                  "apart")
        if not config.get("MonitoringJobDefinitionName") and not config.get("MonitoringJobDefinition"):
            raise ValidationError("MonitoringScheduleConfig needs MonitoringJobDefinitionName or "
                                  "MonitoringJobDefinition")
        if config.get("MonitoringJobDefinitionName"):
            self._definition(config)  # must exist

    def _plan(self, schedule: Schedule, now: float) -> None:
        """When the schedule next runs (now for NOW schedules), in real epoch seconds."""
        parsed = parse_schedule((schedule.config.get("ScheduleConfig") or {}).get("ScheduleExpression", ""))
        if parsed is None:
            schedule.next_run = now if not schedule.executions else None
            return
        first, every = parsed
        hour = clock.real_seconds(HOUR)
        index = int(now // hour) + 1  # the next scaled hour boundary, then the first that matches
        while (index % 24 - first) % every:
            index += 1
        schedule.next_run = index * hour

    def tick(self, now: float) -> None:
        """Start due executions and follow running ones (called by the scheduler thread)."""
        with self.lock:
            for schedule in list(self.schedules.values()):
                for execution in schedule.executions:
                    if execution.status in ("Pending", "InProgress", "Stopping"):
                        self._follow(execution)
                if schedule.status == "Scheduled" and schedule.next_run is not None and \
                        now >= schedule.next_run + self._grace(schedule):
                    scheduled = schedule.next_run
                    self._run(schedule, scheduled)
                    self._plan(schedule, max(now, scheduled))

    @staticmethod
    def _grace(schedule: Schedule) -> float:
        """How long after its scheduled time an execution starts, so the window's last capture has landed.

        AWS starts hourly executions within 20 minutes of the hour; here a tenth of an hour on
        localcloud's clock, at most 2 s (endpoints ship their capture every second). NOW runs at once.
        """
        if parse_schedule((schedule.config.get("ScheduleConfig") or {}).get("ScheduleExpression", "")) is None:
            return 0.0
        return min(2.0, clock.real_seconds(HOUR) / 10)

    def _run(self, schedule: Schedule, scheduled: float) -> None:
        schedule_config = schedule.config.get("ScheduleConfig") or {}
        scale = clock.real_seconds(1.0)
        start = scheduled + parse_offset(schedule_config.get("DataAnalysisStartTime"), -HOUR) * scale
        end = scheduled + parse_offset(schedule_config.get("DataAnalysisEndTime"), 0.0) * scale
        try:
            definition = self._definition(schedule.config)
        except ValidationError as e:
            schedule.executions.append(Execution(schedule.name, scheduled, "", schedule.definition_name,
                                                 schedule.kind, status="Failed", failure_reason=str(e)))
            return
        execution = Execution(schedule.name, scheduled, schedule.endpoint(definition), schedule.definition_name,
                              schedule.kind)
        schedule.executions.append(execution)
        try:
            request = self._job_request(schedule, definition, scheduled, start, end)
        except _NoData as e:
            execution.status, execution.failure_reason, execution.modified = "Failed", str(e), time.time()
            return
        except Exception as e:  # a bug of ours fails this execution, not the scheduler
            log.exception("cannot start monitoring execution of %s", schedule.name)
            execution.status, execution.failure_reason = "Failed", f"InternalServerError: {e}"
            return
        job = self.backend.submit_job(PROCESSING, request)
        execution.status, execution.job_arn, execution.job_name = "InProgress", job.arn, request["ProcessingJobName"]
        execution.modified = time.time()

    def _follow(self, execution: Execution) -> None:
        job = self.backend.processing_jobs.get(execution.job_name) if execution.job_name else None
        if job is None:
            return
        status = job.processing_job_status
        if status not in _ENDED:
            execution.status = "Stopping" if status == "Stopping" else "InProgress"
            return
        if status == "Completed":
            message = str(getattr(job, "exit_message", "") or "")
            execution.status = "CompletedWithViolations" if message.startswith("CompletedWithViolations") \
                else "Completed"
        else:
            execution.status = status
            reason = str(getattr(job, "failure_reason", "") or "")
            execution.failure_reason = re.sub(r"^AlgorithmError: |, exit code: \d+$", "", reason) or None
        execution.modified = time.time()

    # ------------------------------------------------------------------ the job
    def _definition_or_none(self, schedule: Schedule) -> dict[str, Any] | None:
        try:
            return self._definition(schedule.config)
        except ValidationError:
            return None

    def _definition(self, config: dict[str, Any]) -> dict[str, Any]:
        """The job definition, normalised: input, baseline, app, output, resources, env, role, stopping."""
        inline = config.get("MonitoringJobDefinition")
        if inline:
            inputs = inline.get("MonitoringInputs") or [{}]
            return {"input": inputs[0].get("EndpointInput") or {}, "baseline": inline.get("BaselineConfig") or {},
                    "app": inline.get("MonitoringAppSpecification") or {},
                    "outputs": (inline.get("MonitoringOutputConfig") or {}).get("MonitoringOutputs") or [],
                    "resources": inline.get("MonitoringResources") or {}, "env": inline.get("Environment") or {},
                    "role": inline.get("RoleArn"), "stopping": inline.get("StoppingCondition")}
        name = config.get("MonitoringJobDefinitionName")
        kind = config.get("MonitoringType") or "DataQuality"
        if kind == "ModelQuality":
            quality = self.backend.model_quality_job_definitions.get(str(name))
            if quality is None:
                raise ValidationError(f"Could not find model quality job definition {name}")
            job_input = quality.model_quality_job_input or {}
            return {"input": job_input.get("EndpointInput") or {},
                    "ground_truth": (job_input.get("GroundTruthS3Input") or {}).get("S3Uri"),
                    "baseline": quality.model_quality_baseline_config or {},
                    "app": quality.model_quality_app_specification or {},
                    "outputs": (quality.model_quality_job_output_config or {}).get("MonitoringOutputs") or [],
                    "resources": quality.job_resources or {}, "env": {}, "role": quality.role_arn,
                    "stopping": quality.stopping_condition}
        if kind != "DataQuality":
            raise ValidationError(f"MonitoringType {kind} is not run by localcloud (DataQuality and ModelQuality are)")
        stored = self.backend.data_quality_job_definitions.get(str(name))
        if stored is None:
            raise ValidationError(f"Could not find data quality job definition {name}")
        return {"input": (stored.data_quality_job_input or {}).get("EndpointInput") or {},
                "baseline": stored.data_quality_baseline_config or {},
                "app": stored.data_quality_app_specification or {},
                "outputs": (stored.data_quality_job_output_config or {}).get("MonitoringOutputs") or [],
                "resources": stored.job_resources or {}, "env": stored.environment or {},
                "role": stored.role_arn, "stopping": stored.stopping_condition}

    def _capture_hours(self, endpoint: str, start: float, end: float) -> list[tuple[str, str]]:
        """(S3 prefix, relative folder) of every captured hour of `endpoint` that overlaps [start, end)."""
        described = self.backend.endpoints.get(endpoint)
        config = self.backend.endpoint_configs.get(described.endpoint_config_name) if described else None
        capture = (getattr(config, "data_capture_config", None) or {}) if config else {}
        destination = str(capture.get("DestinationS3Uri") or "")
        if not destination.startswith("s3://"):
            raise _NoData(f"Endpoint {endpoint} captures no data (no DataCaptureConfig): Job inputs had no data")
        return self._hours(f"{destination.rstrip('/')}/{endpoint}", start, end, levels=5)

    def _hours(self, uri: str, start: float, end: float, levels: int) -> list[tuple[str, str]]:
        """Hour folders under `uri` (`[variant/]yyyy/mm/dd/hh`, `levels` deep) overlapping [start, end)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        base = f"{prefix.rstrip('/')}/" if prefix else ""
        s3 = aws.client("s3", self.backend.region_name)
        hours: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for item in page.get("Contents", ()):
                parts = item["Key"][len(base):].split("/")
                if len(parts) <= levels:
                    continue
                year, month, day, hour = parts[levels - 4:levels]
                try:
                    opened = datetime(int(year), int(month), int(day), int(hour), tzinfo=UTC).timestamp()
                except ValueError:
                    continue
                if opened < end and opened + HOUR > start:
                    folder = "/".join(parts[:levels])
                    hours[folder] = f"s3://{bucket}/{base}{folder}"
        return [(uri, folder) for folder, uri in sorted(hours.items())]

    def _job_request(self, schedule: Schedule, definition: dict[str, Any], scheduled: float, start: float,
                     end: float) -> dict[str, Any]:
        endpoint_input = definition["input"]
        endpoint = str(endpoint_input.get("EndpointName") or "")
        local = str(endpoint_input.get("LocalPath") or "/opt/ml/processing/input/endpoint").rstrip("/")
        hours = self._capture_hours(endpoint, start, end)
        if not hours:
            raise _NoData("Job inputs had no data")
        stamp = datetime.fromtimestamp(scheduled, UTC)
        digest = hashlib.sha256(f"{schedule.arn}@{scheduled}".encode()).hexdigest()[:24]
        inputs: list[dict[str, Any]] = [{"InputName": f"endpoint_input_{n}", "S3Input": {
            "S3Uri": uri, "LocalPath": f"{local}/{endpoint}/{folder}", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}} for n, (uri, folder) in enumerate(hours, 1)]
        env = {"dataset_format": json.dumps({"sagemakerCaptureJson": {
                   "captureIndexNames": ["endpointInput", "endpointOutput"]}}),
               "dataset_source": local, "output_path": RESULT_DIR, "publish_cloudwatch_metrics": "Enabled",
               "sagemaker_endpoint_name": endpoint, "sagemaker_monitoring_schedule_name": schedule.name,
               # whole seconds, as AWS writes them; the end rounded up so the window's last second counts
               "start_time": _iso(math.floor(start)), "end_time": _iso(math.ceil(end)),
               "metric_time": _iso(math.floor(start))}
        if schedule.kind == "ModelQuality":
            truth_uri = definition.get("ground_truth")
            if not truth_uri:
                raise _NoData("The model quality job definition names no GroundTruthS3Input")
            truth = self._hours(truth_uri, start, max(end, time.time()), levels=4)  # labels come later
            if not truth:
                raise _NoData(f"Job inputs had no data: no ground truth under {truth_uri} for the window")
            inputs += [{"InputName": f"groundtruth_input_{n}", "S3Input": {
                "S3Uri": uri, "LocalPath": f"{GROUND_TRUTH_DIR}/{folder}", "S3DataType": "S3Prefix",
                "S3InputMode": "File"}} for n, (uri, folder) in enumerate(truth, 1)]
            app = definition["app"]
            env.update(analysis_type="MODEL_QUALITY", groundtruth_source=GROUND_TRUTH_DIR,
                       problem_type=str(app.get("ProblemType") or "Regression"),
                       inference_attribute=str(endpoint_input.get("InferenceAttribute") or "0"))
        baseline = definition["baseline"]
        for key, folder in (("ConstraintsResource", "constraints"), ("StatisticsResource", "stats")):
            uri = (baseline.get(key) or {}).get("S3Uri")
            if uri:
                inputs.append({"InputName": folder, "S3Input": {
                    "S3Uri": uri, "LocalPath": f"{BASELINE_DIR}/{folder}", "S3DataType": "S3Prefix",
                    "S3InputMode": "File"}})
                env["baseline_constraints" if folder == "constraints" else "baseline_statistics"] = \
                    f"{BASELINE_DIR}/{folder}/{uri.rsplit('/', 1)[-1]}"
        env.update({str(k): str(v) for k, v in (definition["env"] or {}).items()})
        app = definition["app"]
        env.update({str(k): str(v) for k, v in (app.get("Environment") or {}).items()})
        outputs: list[dict[str, Any]] = [{"OutputName": f"output_{n}", "S3Output": {
            "S3Uri": f"{o['S3Output']['S3Uri'].rstrip('/')}/{endpoint}/{schedule.name}/{stamp:%Y/%m/%d/%H}",
            "LocalPath": o["S3Output"].get("LocalPath") or RESULT_DIR, "S3UploadMode": "EndOfJob"}}
                   for n, o in enumerate(definition["outputs"], 1) if (o.get("S3Output") or {}).get("S3Uri")]
        if outputs:
            env["output_path"] = outputs[0]["S3Output"]["LocalPath"]
        return {
            "ProcessingJobName": f"{'model-quality-' if schedule.kind == 'ModelQuality' else 'model-'}monitoring-"
                                 f"{stamp:%Y%m%d%H%M}-{digest}",
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": outputs},
            "ProcessingResources": definition["resources"] or {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
            "StoppingCondition": definition["stopping"] or {"MaxRuntimeInSeconds": 3600},
            "AppSpecification": {"ImageUri": app.get("ImageUri", ""),
                                 **({"ContainerEntrypoint": app["ContainerEntrypoint"]}
                                    if app.get("ContainerEntrypoint") else {}),
                                 **({"ContainerArguments": app["ContainerArguments"]}
                                    if app.get("ContainerArguments") else {})},
            "Environment": env,
            "RoleArn": definition["role"] or f"arn:aws:iam::{self.backend.account_id}:role/monitoring",
        }


class _NoData(Exception):
    """The window holds no captured data: the execution fails without a job."""


def _tick() -> None:
    from moto.sagemaker.models import sagemaker_backends

    now = time.time()
    for account, region, backend in sagemaker_backends.iter_backends():
        monitoring = getattr(backend, "monitoring", None)
        if monitoring is None:
            continue
        try:
            monitoring.tick(now)
        except Exception:  # one account's or region's failure must not stop the others'
            log.exception("monitoring scheduler failed in %s/%s", account, region)


_ticker = Ticker("monitoring-scheduler", _tick, lambda: min(1.0, max(0.05, clock.real_seconds(HOUR) / 20)))
start = _ticker.start
