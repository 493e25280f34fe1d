"""One pipeline execution in detail (the console's pipelines page): parameters, and per step its job,
inputs and outputs, metrics, failure and the tail of its log.

Read through the AWS API only: the execution and its steps from SageMaker, each step's job from
its Describe call, the log from CloudWatch Logs where SageMaker ships a job's output
(`/aws/sagemaker/<kind>Jobs`, streams `<job>/...`). A finished job never changes, so its
description and log tail are kept by the reader (`JobCache`) and not read again.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sagestack import job_logs, progress

LOG_LINES = 40
"""The lines of a step's log shown (its end)."""
EXECUTION_ID = re.compile(r"[A-Za-z0-9-]{1,256}")
"""What a pipeline execution id may be (checked before it becomes part of an ARN)."""


@dataclass
class StepDetail:
    name: str
    kind: str
    status: str
    started: datetime | None
    ended: datetime | None
    detail: str
    """The CLI's one fact about the step (its job, the condition's outcome, the package, the error)."""
    job: str = ""
    inputs: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    """The end of the job's log (only for the step asked for)."""


@dataclass
class ExecutionDetail:
    id: str
    arn: str
    status: str
    started: datetime | None
    ended: datetime | None
    failure: str
    parameters: list[tuple[str, str]]
    steps: list[StepDetail]
    selected: str = ""
    """The step whose log is shown."""

    @property
    def statuses(self) -> dict[str, str]:
        return {s.name: s.status for s in self.steps}

    @property
    def stoppable(self) -> bool:
        return self.status == "Executing"

    @property
    def retryable(self) -> bool:
        return self.status in ("Failed", "Stopped")


class JobCache:
    """Finished jobs' descriptions and log tails, by job name (they never change once a job ended)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._logs: dict[str, list[str]] = {}

    def job(self, sagemaker: Any, kind: str, name: str) -> dict[str, Any]:
        with self._lock:
            if name in self._jobs:
                return self._jobs[name]
        how = job_logs.KINDS[kind]
        described = getattr(sagemaker, how.describe)(**{how.name_key: name})
        if described.get(how.status_key) in job_logs.DONE:
            with self._lock:
                self._jobs[name] = described
        return described

    def log(self, logs: Any, kind: str, name: str, finished: bool) -> list[str]:
        with self._lock:
            if name in self._logs:
                return self._logs[name]
        lines = job_logs.last_lines(logs, kind, name, LOG_LINES)
        if finished:
            with self._lock:
                self._logs[name] = lines
        return lines


def _channels(kind: str, job: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A job's inputs and outputs as (name, S3 URI)."""
    if kind == "ProcessingJob":
        inputs = [(i.get("InputName", "?"), str((i.get("S3Input") or {}).get("S3Uri", "")))
                  for i in job.get("ProcessingInputs") or []]
        outputs = [(o.get("OutputName", "?"), str((o.get("S3Output") or {}).get("S3Uri", "")))
                   for o in (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []]
        return inputs, outputs
    if kind == "TrainingJob":
        inputs = [(c.get("ChannelName", "?"), str(((c.get("DataSource") or {}).get("S3DataSource") or {}).get(
            "S3Uri", ""))) for c in job.get("InputDataConfig") or []]
        model = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        return inputs, [("model", str(model))] if model else []
    return [], []


def read(client: Any, cache: JobCache, arn: str, step: str | None) -> ExecutionDetail:
    """The execution `arn` with its steps; the log tail of step `step` (default: the failed one, if any)."""
    sagemaker = client("sagemaker")
    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn).get(
        "PipelineParameters") or []
    steps = progress.list_steps(sagemaker, arn)
    failed = next((str(s.get("StepName")) for s in steps if s.get("StepStatus") == "Failed"), "")
    selected = step if step is not None else failed
    details = []
    for raw in steps:
        name = str(raw.get("StepName"))
        detail = StepDetail(name=name, kind=progress.step_kind(raw), status=str(raw.get("StepStatus", "")),
                            started=raw.get("StartTime"), ended=raw.get("EndTime"),
                            detail=progress.step_detail(raw))
        metadata = raw.get("Metadata") or {}
        kind = next((k for k in job_logs.KINDS if k in metadata), None)
        if kind:
            detail.job = str(metadata[kind].get("Arn", "")).rsplit("/", 1)[-1]
            job = cache.job(sagemaker, kind, detail.job)
            detail.inputs, detail.outputs = _channels(kind, job)
            detail.metrics = {m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList") or []}
            if name == selected:
                detail.log = cache.log(client("logs"), kind, detail.job,
                                       job.get(job_logs.KINDS[kind].status_key) in job_logs.DONE)
        details.append(detail)
    status = str(described["PipelineExecutionStatus"])
    return ExecutionDetail(
        id=arn.rsplit("/", 1)[-1], arn=arn, status=status, started=described.get("CreationTime"),
        ended=described.get("LastModifiedTime") if status not in ("Executing", "Stopping") else None,
        failure=str(described.get("FailureReason") or ""),
        parameters=[(str(p.get("Name")), str(p.get("Value"))) for p in parameters], steps=details,
        selected=selected)
