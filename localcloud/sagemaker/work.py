"""The SageMaker work localcloud runs, each kind written once: jobs, pipeline executions, endpoint deployments.

Each is a `localcloud.engine.Work`: the engine starts, stops and reports crashes; these classes
know what their record (moto's Fake* object) says at each stage. The three job kinds differ only
in their record's field names and in what actually runs (a processing or training process, or a
transform over the model's container), so one `JobWork` drives all three through a `JobKind`.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import camelcase_to_underscores

from localcloud import settings
from localcloud.engine import RESTART_REASON, Work
from localcloud.sagemaker.deployment_plan import DeploymentPlan
from localcloud.sagemaker.endpoints import DeployError, EndpointFleet
from localcloud.sagemaker.jobs import JobOutcome, run_processing_job, run_training_job
from localcloud.sagemaker.transforms import TransformError, TransformStopped, run_transform

TERMINAL_JOB = ("Completed", "Failed", "Stopped")


def now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _parameters(method: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(name for name, p in inspect.signature(method).parameters.items()
                 if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def moto_arguments(method: Callable[..., Any], request: dict[str, Any]) -> dict[str, Any]:
    """An AWS-shaped (CamelCase) request as the snake_case keyword arguments `method` of moto's takes."""
    given = {camelcase_to_underscores(key): value for key, value in request.items()}
    return {name: given.get(name) for name in _parameters(method)}


@dataclass(frozen=True)
class JobKind:
    """What differs between the job kinds' records: their names and fields."""

    name: str
    """ProcessingJob | TrainingJob | TransformJob (also the key of a pipeline step's Metadata)."""
    table: str
    status: str
    started: str
    ended: str

    @property
    def name_member(self) -> str:
        return f"{self.name}Name"

    @property
    def words(self) -> str:
        """"processing job": as AWS's messages name the kind."""
        return camelcase_to_underscores(self.name).replace("_", " ")

    def arn(self, name: str, account: str, region: str) -> str:
        return f"arn:aws:sagemaker:{region}:{account}:{self.words.replace(' ', '-')}/{name}"

    def job_name(self, job: Any) -> str:
        return str(getattr(job, camelcase_to_underscores(self.name_member)))


PROCESSING = JobKind("ProcessingJob", "processing_jobs", "processing_job_status", "processing_start_time",
                     "processing_end_time")
TRAINING = JobKind("TrainingJob", "training_jobs", "training_job_status", "training_start_time",
                   "training_end_time")
TRANSFORM = JobKind("TransformJob", "transform_jobs", "transform_job_status", "transform_start_time",
                    "transform_end_time")
JOB_KINDS = {kind.name: kind for kind in (PROCESSING, TRAINING, TRANSFORM)}


class JobWork(Work):
    """A job from InProgress to Completed, Failed or Stopped; subclasses say what runs."""

    kind: JobKind

    def __init__(self, job: Any, request: dict[str, Any], region: str):
        self.job = job
        self.request = request
        self.region = region
        self.key = job.arn
        self.name = self.kind.job_name(job)

    def run(self, stop: threading.Event) -> None:
        self.began()
        self.finished(self.execute(stop))

    def execute(self, stop: threading.Event) -> JobOutcome:
        raise NotImplementedError

    def began(self) -> None:
        setattr(self.job, self.kind.started, now())
        self.job.last_modified_time = now()

    def finished(self, outcome: JobOutcome) -> None:
        setattr(self.job, self.kind.status, outcome.status)
        self.job.failure_reason = outcome.failure_reason
        end = now()
        setattr(self.job, self.kind.ended, end)
        self.job.last_modified_time = end

    def crashed(self, reason: str) -> None:
        self.finished(JobOutcome(status="Failed", failure_reason=reason))

    def interrupted(self) -> None:
        """localcloud restarted while the job ran: it ends Failed (Stopped if it was being stopped)."""
        stopping = getattr(self.job, self.kind.status) == "Stopping"
        self.finished(JobOutcome(status="Stopped" if stopping else "Failed", failure_reason=RESTART_REASON))


class ProcessingWork(JobWork):
    kind = PROCESSING

    def execute(self, stop: threading.Event) -> JobOutcome:
        return run_processing_job(self.name, self.request, self.region, settings.resource_dir("jobs", self.name), stop)

    def finished(self, outcome: JobOutcome) -> None:
        self.job.exit_message = outcome.exit_message
        super().finished(outcome)


class TrainingWork(JobWork):
    kind = TRAINING

    def began(self) -> None:
        super().began()
        start = self.job.training_start_time
        self.job.secondary_status = "Training"
        self.job.secondary_status_transitions[-1]["EndTime"] = start
        self.job.secondary_status_transitions.append(
            {"Status": "Training", "StartTime": start,
             "StatusMessage": "Training image download completed. Training in progress."})

    def execute(self, stop: threading.Event) -> JobOutcome:
        return run_training_job(self.name, self.request, self.region, settings.resource_dir("jobs", self.name), stop)

    def finished(self, outcome: JobOutcome) -> None:
        if outcome.model_artifacts:
            self.job.model_artifacts = {"S3ModelArtifacts": outcome.model_artifacts}
        self.job.final_metric_data_list = outcome.final_metrics or None
        super().finished(outcome)
        end = self.job.training_end_time
        self.job.secondary_status = outcome.secondary_status or outcome.status
        self.job.secondary_status_transitions[-1]["EndTime"] = end
        self.job.secondary_status_transitions.append(
            {"Status": self.job.secondary_status, "StartTime": end, "EndTime": end,
             "StatusMessage": outcome.failure_reason or "Training job completed"})
        start = self.job.training_start_time or end
        self.job.training_time_in_seconds = self.job.billable_time_in_seconds = \
            max(1, int((end - start).total_seconds()))


class TransformWork(JobWork):
    kind = TRANSFORM

    def __init__(self, job: Any, request: dict[str, Any], region: str, fleet: EndpointFleet):
        super().__init__(job, request, region)
        self.fleet = fleet

    def execute(self, stop: threading.Event) -> JobOutcome:
        try:
            run_transform(self.fleet, self.name, self.request, stop)
        except TransformStopped:
            return JobOutcome(status="Stopped")
        except (TransformError, DeployError) as e:
            return JobOutcome(status="Failed", failure_reason=str(e))
        return JobOutcome(status="Completed")


class ExecutionWork(Work):
    """A pipeline execution: its runner walks the steps; the record is the execution's."""

    def __init__(self, runner: Any):
        self.runner = runner
        self.key = runner.execution.arn

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)

    def crashed(self, reason: str) -> None:
        execution = self.runner.execution
        execution.pipeline_execution_status = "Failed"
        execution.pipeline_execution_failure_reason = reason
        execution.last_modified_time = now()


class DeploymentWork(Work):
    """An endpoint brought up on a config (`update`: blue/green from the config it serves)."""

    def __init__(self, fleet: EndpointFleet, endpoint: Any, config: Any, update: bool,
                 plan: DeploymentPlan | None = None):
        self.fleet, self.endpoint, self.config, self.update, self.plan = fleet, endpoint, config, update, plan
        self.key = endpoint.arn

    def run(self, stop: threading.Event) -> None:
        if self.update:
            self.fleet.update(self.endpoint, self.config, self.plan, sleep=lambda seconds: not stop.wait(seconds))
        else:
            self.fleet.deploy(self.endpoint, self.config)

    def crashed(self, reason: str) -> None:
        # An update that could not happen leaves the old fleet serving, as on AWS.
        self.endpoint.endpoint_status = "InService" if self.update else "Failed"
        self.endpoint.pending_deployment_summary = None
        self.endpoint.failure_reason = reason
        self.endpoint.last_modified_time = now()
