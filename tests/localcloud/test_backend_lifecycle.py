"""The SageMaker backend's lifecycle rules, in-process: one runner per execution however calls interleave."""

from __future__ import annotations

import json
import threading
import time

from moto.sagemaker.exceptions import ValidationError
from support import wait_until

from localcloud import settings
from localcloud.sagemaker.backend import LocalSageMakerBackend
from localcloud.sagemaker.executions import ExecutionRunner

ROLE = "arn:aws:iam::123456789012:role/r"


def test_concurrent_retries_are_accepted_once_even_when_preparing_is_slow(tmp_path, monkeypatch) -> None:
    settings.set_data_dir(tmp_path)
    backend = LocalSageMakerBackend("us-east-1", "123456789012")
    definition = {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail",
                                                      "Arguments": {"ErrorMessage": "no"}}]}
    backend.create_pipeline("p", "p", json.dumps(definition), None, "", ROLE, [], None)
    arn = backend.start_pipeline_execution("p", "", [], "", None, None)["PipelineExecutionArn"]
    execution = backend._execution(arn)
    assert wait_until(lambda: execution.pipeline_execution_status == "Failed", 10)

    prepare, run = ExecutionRunner.prepare_retry, ExecutionRunner.run

    def slow_prepare(self: ExecutionRunner) -> None:
        time.sleep(0.05)  # widen the window between checking the status and changing it
        prepare(self)

    def slow_run(self: ExecutionRunner, stop: threading.Event) -> None:
        stop.wait(1.0)  # the retried attempt is still Executing while the other retries arrive
        run(self, stop)

    monkeypatch.setattr(ExecutionRunner, "prepare_retry", slow_prepare)
    monkeypatch.setattr(ExecutionRunner, "run", slow_run)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def retry() -> None:
        barrier.wait()
        try:
            backend.retry_pipeline_execution(arn)
            outcomes.append("accepted")
        except ValidationError:
            outcomes.append("refused")

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted"] + ["refused"] * 7
    assert wait_until(lambda: execution.pipeline_execution_status == "Failed", 10)
    assert [s["AttemptCount"] for s in backend.list_pipeline_execution_steps(arn)] == [2]
    backend.stop_everything()


def test_a_training_job_past_its_max_runtime_says_so_in_its_secondary_status(tmp_path, monkeypatch) -> None:
    from localcloud.sagemaker.jobs import JobOutcome
    from localcloud.sagemaker.work import TRAINING, TrainingWork

    settings.set_data_dir(tmp_path)
    backend = LocalSageMakerBackend("us-east-1", "123456789012")
    reason = "MaxRuntimeExceeded: Training job exceeded StoppingCondition.MaxRuntimeInSeconds (1 s)"
    monkeypatch.setattr(TrainingWork, "execute", lambda self, stop: JobOutcome(
        status="Stopped", failure_reason=reason, secondary_status="MaxRuntimeExceeded"))
    backend.submit_job(TRAINING, {"TrainingJobName": "slow", "RoleArn": ROLE, "AlgorithmSpecification": {
        "TrainingImage": "i", "TrainingInputMode": "File"}, "OutputDataConfig": {"S3OutputPath": "s3://b/o"}})
    assert wait_until(lambda: backend.describe_training_job("slow")["TrainingJobStatus"] == "Stopped", 10)
    described = backend.describe_training_job("slow")
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting", "Training", "MaxRuntimeExceeded"]
    backend.stop_everything()
