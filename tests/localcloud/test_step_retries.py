"""RetryPolicies, in-process: which failures are retried, how often, and what the step row says.

localcloud cannot be made to throttle or run out of capacity, and its own faults are bugs; so
these tests put a fault where one would surface (a step's executor, a job's run) and watch the
real retry loop answer it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from support import wait_until

from localcloud import settings
from localcloud.sagemaker import executions
from localcloud.sagemaker.backend import LocalSageMakerBackend
from localcloud.sagemaker.jobs import JobOutcome
from localcloud.sagemaker.work import ProcessingWork

ROLE = "arn:aws:iam::123456789012:role/r"
MODEL = {"Name": "Model", "Type": "Model", "Arguments": {
    "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://b/m.tar.gz"}}}


@pytest.fixture
def backend(tmp_path: Any) -> Any:
    settings.set_data_dir(tmp_path)
    backend = LocalSageMakerBackend("us-east-1", "123456789012")
    yield backend
    backend.stop_everything()


def _execute(backend: LocalSageMakerBackend, steps: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    backend.create_pipeline("p", "p", json.dumps({"Version": "2020-12-01", "Steps": steps}), None, "", ROLE, [],
                            None)
    arn = backend.start_pipeline_execution("p", "", [], "", None, None)["PipelineExecutionArn"]
    execution = backend._execution(arn)
    assert wait_until(lambda: execution.pipeline_execution_status not in ("Executing", "Stopping"), 30)
    return execution.pipeline_execution_status, backend.list_pipeline_execution_steps(arn)[0]


def _flaky(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """Make the Model step's executor crash `failures` times, then work; returns the call count."""
    calls = [0]
    real = executions.EXECUTORS["Model"]

    def executor(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] <= failures:
            raise ConnectionError("the registry went away")
        return real(*args)

    monkeypatch.setitem(executions.EXECUTORS, "Model", executor)
    return calls


def test_a_service_fault_is_retried_until_the_step_succeeds(backend: Any, monkeypatch: Any) -> None:
    calls = _flaky(monkeypatch, failures=2)
    policy = {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}
    status, step = _execute(backend, [{**MODEL, "RetryPolicies": [policy]}])
    assert (status, step["StepStatus"], step["AttemptCount"], calls[0]) == ("Succeeded", "Succeeded", 3, 3)
    assert step["Metadata"]["Model"]["Arn"].startswith("arn:aws:sagemaker:us-east-1:123456789012:model/")
    assert "FailureReason" not in step


def test_retries_stop_at_max_attempts_and_the_fault_is_reported_as_ours(backend: Any, monkeypatch: Any) -> None:
    calls = _flaky(monkeypatch, failures=5)
    policy = {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 1, "MaxAttempts": 1}
    status, step = _execute(backend, [{**MODEL, "RetryPolicies": [policy]}])
    assert (status, step["StepStatus"], step["AttemptCount"], calls[0]) == ("Failed", "Failed", 2, 2)
    assert step["FailureReason"].startswith("InternalServerError: localcloud failed (ConnectionError: the registry")


def test_a_policy_for_other_exceptions_does_not_retry(backend: Any, monkeypatch: Any) -> None:
    calls = _flaky(monkeypatch, failures=1)
    policy = {"ExceptionType": ["Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 5}
    status, step = _execute(backend, [{**MODEL, "RetryPolicies": [policy]}])
    assert (status, step["AttemptCount"], calls[0]) == ("Failed", 1, 1)


def test_the_callers_own_errors_are_never_retried(backend: Any) -> None:
    bad = {**MODEL, "Arguments": {**MODEL["Arguments"], "ModelName": "m"}}
    backend.create_model("m", ROLE, {"Image": "i"}, None, None, None)  # the step's model name is taken
    policy = {"ExceptionType": ["Step.SERVICE_FAULT", "SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 5}
    status, step = _execute(backend, [{**bad, "RetryPolicies": [policy]}])
    assert (status, step["AttemptCount"]) == ("Failed", 1)
    assert step["FailureReason"].startswith("ClientError: Cannot create already existing model")


def test_a_job_that_fails_internally_is_retried_as_a_new_job(backend: Any, monkeypatch: Any) -> None:
    runs: list[str] = []

    def execute(self: ProcessingWork, stop: threading.Event) -> JobOutcome:
        runs.append(self.name)
        if len(runs) == 1:
            raise OSError("disk vanished")  # the engine records the job Failed with an internal error
        return JobOutcome(status="Completed")

    monkeypatch.setattr(ProcessingWork, "execute", execute)
    processing = {"Name": "Prep", "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "i"}, "RoleArn": ROLE},
        "RetryPolicies": [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 1}]}
    status, step = _execute(backend, [processing])
    assert (status, step["AttemptCount"]) == ("Succeeded", 2)
    first, second = runs
    assert first != second and step["Metadata"]["ProcessingJob"]["Arn"].endswith(f"/{second}")
    failed = backend.describe_processing_job(first)
    assert failed["ProcessingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("InternalServerError: localcloud failed (OSError: disk vanished)")


def test_stopping_during_the_backoff_stops_the_step(backend: Any, monkeypatch: Any) -> None:
    calls = _flaky(monkeypatch, failures=1)
    policy = {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 3600, "MaxAttempts": 1}
    backend.create_pipeline("p", "p", json.dumps({"Version": "2020-12-01", "Steps": [
        {**MODEL, "RetryPolicies": [policy]}]}), None, "", ROLE, [], None)
    arn = backend.start_pipeline_execution("p", "", [], "", None, None)["PipelineExecutionArn"]
    execution = backend._execution(arn)
    assert wait_until(lambda: calls[0] == 1, 10)  # the first attempt failed: the step waits out its hour
    assert backend.list_pipeline_execution_steps(arn)[0]["StepStatus"] == "Executing"
    backend.stop_pipeline_execution(arn)
    assert wait_until(lambda: execution.pipeline_execution_status == "Stopped", 10)
    assert backend.list_pipeline_execution_steps(arn)[0]["StepStatus"] == "Stopped"
