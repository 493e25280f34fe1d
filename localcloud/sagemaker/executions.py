"""Pipeline executions that really run: the definition's steps, in dependency order.

`ExecutionRunner.run` is the execution's own thread. It asks the definition's plan
which steps are ready, runs each in a thread of its own (independent steps run in
parallel), and records every step's status, times, metadata and failure as
ListPipelineExecutionSteps reports them. Step types map to small executor functions;
jobs go through the backend so they are real, describable SageMaker jobs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.utils import camelcase_to_underscores
from moto.sagemaker.models import SageMakerModelBackend

from localcloud import aws
from localcloud.engine import INTERNAL, internal_error
from localcloud.sagemaker.definition import (
    ExpressionError,
    PipelineDefinition,
    ResolveContext,
    Step,
    resolve,
    stringify,
)
from localcloud.sagemaker.step_policies import (
    JOB_INTERNAL_ERROR,
    SERVICE_FAULT,
    CachedRun,
    cache_key,
    policy_for,
)
from localcloud.sagemaker.work import PROCESSING, TRAINING, TRANSFORM, JobKind, moto_arguments

log = logging.getLogger("localcloud.pipelines")


def _now() -> datetime:
    return datetime.now(UTC)


class StepFailed(Exception):
    """A step ends Failed with this message as its FailureReason.

    `exception_type` is the RetryPolicy ExceptionType the failure is (None: never retried).
    """

    def __init__(self, message: str, exception_type: str | None = None):
        super().__init__(message)
        self.exception_type = exception_type


@dataclass
class StepRecord:
    """One row of ListPipelineExecutionSteps."""

    name: str
    type: str
    display_name: str | None = None
    description: str | None = None
    status: str = "Starting"
    start: datetime = field(default_factory=_now)
    end: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    attempts: int = 1
    cache_hit: str | None = None
    """The execution whose run of this step was reused (CacheHitResult)."""

    def as_response(self) -> dict[str, Any]:
        row: dict[str, Any] = {"StepName": self.name, "StartTime": self.start, "StepStatus": self.status,
                               "Metadata": self.metadata, "AttemptCount": self.attempts}
        if self.display_name:
            row["StepDisplayName"] = self.display_name
        if self.description:
            row["StepDescription"] = self.description
        if self.end:
            row["EndTime"] = self.end
        if self.failure_reason:
            row["FailureReason"] = self.failure_reason
        if self.cache_hit:
            row["CacheHitResult"] = {"SourcePipelineExecutionArn": self.cache_hit}
        return row


class ExecutionRunner:
    """Drives one pipeline execution to Succeeded, Failed or Stopped."""

    def __init__(self, backend: Any, pipeline: Any, execution: Any, definition: PipelineDefinition,
                 parameters: dict[str, Any]):
        self.backend = backend
        self.pipeline = pipeline
        self.execution = execution
        self.definition = definition
        self.parameters = parameters
        self.records: dict[str, StepRecord] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, bool] = {}
        self._changed = threading.Condition()
        self._step_stops: dict[str, threading.Event] = {}
        self._retry_attempts: dict[str, int] = {}
        """Steps a RetryPipelineExecution runs again, and their next AttemptCount; each leaves when relaunched
        (until then it is listed with the outcome of its last attempt)."""
        self.execution.pipeline_execution_status = "Executing"

    # ------------------------------------------------------------------ public
    def steps(self) -> list[dict[str, Any]]:
        with self._changed:
            return [r.as_response() for r in self.records.values()]

    def prepare_retry(self) -> None:
        """Keep what succeeded; failed and stopped steps run again (AttemptCount grows)."""
        with self._changed:
            self._retry_attempts = {n: r.attempts + 1 for n, r in self.records.items()
                                    if r.status in ("Failed", "Stopped")}
            self.execution.pipeline_execution_status = "Executing"
            self.execution.pipeline_execution_failure_reason = None
            self.execution.last_modified_time = _now()

    def interrupted(self, reason: str) -> None:
        """localcloud restarted during the execution: it and its running steps end (RetryPipelineExecution
        runs them again)."""
        execution = self.execution
        if execution.pipeline_execution_status not in ("Executing", "Stopping"):
            return
        stopping = execution.pipeline_execution_status == "Stopping"
        end = _now()
        for record in self.records.values():
            if record.status in ("Starting", "Executing", "Stopping"):
                stopped = stopping or record.status == "Stopping"
                record.status, record.end = ("Stopped" if stopped else "Failed"), end
                record.failure_reason = None if stopped else reason
        execution.pipeline_execution_status = "Stopped" if stopping else "Failed"
        execution.pipeline_execution_failure_reason = None if stopping else reason
        execution.last_modified_time = end

    def run(self, stop: threading.Event) -> None:
        watcher = threading.Thread(target=self._relay_stop, args=(stop,), daemon=True)
        watcher.start()
        try:
            self._loop(stop)
        finally:
            with self._changed:
                self._changed.notify_all()

    # ------------------------------------------------------------------ scheduling
    def _loop(self, stop: threading.Event) -> None:
        while True:
            with self._changed:
                statuses = {n: r.status for n, r in self.records.items() if n not in self._retry_attempts}
                progress = self.definition.plan(statuses, self.outcomes, stop.is_set())
                if progress.finished:
                    self._finish(progress.status)
                    return
                for name in progress.ready:
                    self._launch(self.definition.steps[name])
                self._changed.wait(timeout=1.0)

    def _launch(self, step: Step) -> None:
        attempts = self._retry_attempts.pop(step.name, 1)
        record = StepRecord(step.name, step.type, step.display_name, step.description, attempts=attempts)
        self.records[step.name] = record
        step_stop = threading.Event()
        self._step_stops[step.name] = step_stop
        threading.Thread(target=self._run_step, args=(step, record, step_stop),
                         name=f"step-{step.name}", daemon=True).start()

    def _relay_stop(self, stop: threading.Event) -> None:
        """Pass StopPipelineExecution on to every running step."""
        while not stop.wait(0.5):
            if self.execution.pipeline_execution_status not in ("Executing", "Stopping"):
                return
        with self._changed:
            self.execution.pipeline_execution_status = "Stopping"
            for name, record in self.records.items():
                if record.status in ("Starting", "Executing"):
                    record.status = "Stopping"
                    self._step_stops[name].set()
            self._changed.notify_all()

    def _finish(self, status: str) -> None:
        execution = self.execution
        execution.pipeline_execution_status = status
        if status == "Failed" and not execution.pipeline_execution_failure_reason:
            failed = [r for r in self.records.values() if r.status == "Failed"]
            fail_steps = [r for r in failed if r.type == "Fail"]
            if fail_steps:
                execution.pipeline_execution_failure_reason = fail_steps[0].failure_reason
            else:
                names = ", ".join(r.name for r in failed)
                first = failed[0].failure_reason if failed else ""
                execution.pipeline_execution_failure_reason = (
                    f"Step failure: One or multiple steps failed ({names}). {first}".strip())
        execution.last_modified_time = _now()
        log.info("execution %s %s", execution.arn.rsplit("/", 1)[-1], status)

    # ------------------------------------------------------------------ one step
    def _run_step(self, step: Step, record: StepRecord, stop: threading.Event) -> None:
        with self._changed:
            record.status = "Executing"
        first = time.monotonic()
        retries = [0] * len(step.retry_policies)
        while True:
            status, reason, exception_type = self._attempt(step, record, stop)
            index = policy_for(step.retry_policies, exception_type) if status == "Failed" else None
            if index is None:
                break
            policy = step.retry_policies[index]
            if not policy.allows(retries[index], (time.monotonic() - first) / 60):
                break
            delay = policy.delay(retries[index])
            log.info("step %s failed (%s); retry %d in %.0f s", step.name, exception_type, retries[index] + 1, delay)
            if stop.wait(delay):
                status, reason = "Stopped", None
                break
            retries[index] += 1
            with self._changed:
                record.attempts += 1
                record.metadata = {}
        with self._changed:
            record.status, record.failure_reason, record.end = status, reason, _now()
            self.execution.last_modified_time = record.end
            self._changed.notify_all()

    def _attempt(self, step: Step, record: StepRecord, stop: threading.Event) -> tuple[str, str | None, str | None]:
        """Run the step once: its status, failure reason and RetryPolicy exception type."""
        try:
            executor = EXECUTORS.get(step.type)
            if executor is None:
                raise StepFailed(f"Step type {step.type} is not supported by localcloud; supported: "
                                 f"{', '.join(sorted(EXECUTORS))}.")
            job_name = self.backend.job_name_for_step(self.execution.arn, step.name)
            ctx = self._context(job_name)
            result = executor(self, step, record, ctx, stop)
            if result is not None:
                self.properties[step.name] = result
        except StepStopped:
            return "Stopped", None, None
        except StepFailed as e:
            return "Failed", str(e), e.exception_type
        except ExpressionError as e:
            return "Failed", f"ClientError: {e}", None
        except Exception as e:  # a bug of ours fails the step, visibly, not the server
            log.exception("step %s crashed inside localcloud", step.name)
            return "Failed", internal_error(e), SERVICE_FAULT
        return "Succeeded", None, None

    # ------------------------------------------------------------------ step caching
    def cached(self, step: Step, record: StepRecord, request: dict[str, Any]) -> dict[str, Any] | None:
        """The properties of an earlier run this step may reuse (filling in its record), or None."""
        if step.cache is None:
            return None
        key = cache_key(step.type, request)
        run = self.backend.step_cache.find(self.pipeline.arn, step.name, key, step.cache, _now())
        if run is None:
            return None
        record.metadata, record.cache_hit = dict(run.metadata), run.execution_arn
        log.info("step %s reuses the run of %s", step.name, run.execution_arn.rsplit("/", 1)[-1])
        return dict(run.properties)

    def remember(self, step: Step, record: StepRecord, request: dict[str, Any], properties: dict[str, Any]) -> None:
        """Offer a successful run to later executions (if the step caches)."""
        if step.cache is not None:
            run = CachedRun(self.execution.arn, _now(), dict(record.metadata), properties)
            self.backend.step_cache.remember(self.pipeline.arn, step.name, cache_key(step.type, request), run)

    def _context(self, job_name: str) -> ResolveContext:
        execution_arn = self.execution.arn
        variables = {
            "TrainingJobName": job_name,
            "ProcessingJobName": job_name,
            "PipelineExecutionId": execution_arn.rsplit("/", 1)[-1],
            "PipelineExecutionArn": execution_arn,
            "PipelineName": self.pipeline.pipeline_name,
            "PipelineArn": self.pipeline.arn,
            "StartDateTime": self.execution.start_time.isoformat(),
            "CurrentDateTime": _now().isoformat(),
        }
        return self.definition.context(self.parameters, variables, dict(self.properties), self._read_json,
                                       now=lambda: _now().isoformat())

    def _read_json(self, uri: str) -> Any:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            body = aws.client("s3", self.backend.region_name).get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as e:
            raise ExpressionError(f"could not read property file {uri}: {e}") from None
        try:
            return json.loads(body)
        except ValueError as e:
            raise ExpressionError(f"property file {uri} is not valid JSON: {e}") from None


class StepStopped(Exception):
    """The step was stopped by StopPipelineExecution."""


# ---------------------------------------------------------------------- executors
Executor = Callable[[ExecutionRunner, Step, StepRecord, ResolveContext, threading.Event], dict[str, Any] | None]


def _job_outcome(status: str, reason: str | None) -> None:
    if status == "Stopped":
        raise StepStopped()
    if status != "Completed":
        internal = (reason or "").startswith(INTERNAL)
        raise StepFailed(reason or f"job ended {status}", JOB_INTERNAL_ERROR if internal else None)


def _strings(request: dict[str, Any], *keys: str) -> None:
    """AWS takes these maps and lists as strings; a resolved parameter may be a number."""
    for key in keys:
        value = request.get(key)
        if isinstance(value, dict):
            request[key] = {k: stringify(v) for k, v in value.items()}
        elif isinstance(value, list):
            request[key] = [stringify(v) for v in value]


def _job_step(kind: JobKind, *string_members: str) -> Executor:
    """The executor of a step that runs a job of `kind`: the job is real (describable, stoppable, logged)."""

    def execute(runner: ExecutionRunner, step: Step, record: StepRecord, ctx: ResolveContext,
                stop: threading.Event) -> dict[str, Any]:
        request = resolve(dict(step.arguments), ctx)
        _strings(request, *string_members)
        if kind is PROCESSING:
            _strings(request.setdefault("AppSpecification", {}), "ContainerArguments", "ContainerEntrypoint")
        reused = runner.cached(step, record, request)
        if reused is not None:
            return reused
        name = ctx.execution["ProcessingJobName"]  # the step's job name, whatever the kind
        job_request = {**request, kind.name_member: name}
        backend = runner.backend
        try:
            job = backend.record_job(kind, job_request)
        except ServiceException as e:
            raise StepFailed(f"ClientError: {e.message}") from None
        record.metadata = {kind.name: {"Arn": job.arn}}
        backend.engine.run(backend.job_work(kind, job, job_request), stop)
        _job_outcome(getattr(job, kind.status), job.failure_reason)
        properties: dict[str, Any] = getattr(backend, f"describe_{camelcase_to_underscores(kind.name)}")(name)
        runner.remember(step, record, request, properties)
        return properties

    return execute


run_processing = _job_step(PROCESSING, "Environment")
run_training = _job_step(TRAINING, "HyperParameters", "Environment")
run_transform = _job_step(TRANSFORM, "Environment")


def run_condition(runner: ExecutionRunner, step: Step, record: StepRecord, ctx: ResolveContext,
                  stop: threading.Event) -> dict[str, Any]:
    outcome = step.outcome(ctx)
    runner.outcomes[step.name] = outcome
    record.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
    return {"Outcome": outcome}


def run_fail(runner: ExecutionRunner, step: Step, record: StepRecord, ctx: ResolveContext,
             stop: threading.Event) -> None:
    message = step.error_message(ctx)
    record.metadata = {"Fail": {"ErrorMessage": message}}
    raise StepFailed(message)


_REGISTER_IGNORED = {"model_card", "skip_model_validation", "source_uri", "security_config", "model_life_cycle"}
"""RegisterModel arguments AWS accepts that localcloud's registry does not keep."""


def run_register(runner: ExecutionRunner, step: Step, record: StepRecord, ctx: ResolveContext,
                 stop: threading.Event) -> dict[str, Any]:
    request = resolve(dict(step.arguments), ctx)
    kwargs = moto_arguments(SageMakerModelBackend.create_model_package, request)
    unknown = {camelcase_to_underscores(k) for k in request} - set(kwargs) - _REGISTER_IGNORED
    if unknown:
        raise StepFailed(f"ClientError: RegisterModel arguments not understood: {', '.join(sorted(unknown))}")
    kwargs["certify_for_marketplace"] = bool(kwargs["certify_for_marketplace"])
    try:
        arn = runner.backend.create_model_package(**kwargs)
    except ServiceException as e:
        raise StepFailed(f"ClientError: {e.message}") from None
    record.metadata = {"RegisterModel": {"Arn": arn}}
    package = runner.backend.describe_model_package(arn)
    return {**package.gen_response_object(), "ModelPackageArn": arn}


def run_model(runner: ExecutionRunner, step: Step, record: StepRecord, ctx: ResolveContext,
              stop: threading.Event) -> dict[str, Any]:
    request = resolve(dict(step.arguments), ctx)
    name = request.get("ModelName") or runner.backend.job_name_for_step(runner.execution.arn, step.name)
    try:
        model = runner.backend.create_model(name, request.get("ExecutionRoleArn"), request.get("PrimaryContainer"),
                                            request.get("VpcConfig"), request.get("Containers"),
                                            request.get("Tags"))
    except ServiceException as e:
        raise StepFailed(f"ClientError: {e.message}") from None
    record.metadata = {"Model": {"Arn": model.arn}}
    return {**model.response_object, "ModelName": name}


EXECUTORS: dict[str, Executor] = {
    "Processing": run_processing,
    "Training": run_training,
    "Transform": run_transform,
    "Condition": run_condition,
    "Fail": run_fail,
    "RegisterModel": run_register,
    "Model": run_model,
    "CreateModel": run_model,
}
