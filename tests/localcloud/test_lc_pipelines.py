"""Pipeline executions really run on localcloud: driven with plain boto3, as on AWS."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import SKLEARN_IMAGE, Workspace
from support import LocalCloud, wait_until

RETRY_ONCE = r'''
import os, sys, boto3
s3 = boto3.client("s3")
bucket = os.environ["MARKER_BUCKET"]
try:
    s3.head_object(Bucket=bucket, Key="marker")
    print("second attempt: succeeding")
except Exception:
    s3.put_object(Bucket=bucket, Key="marker", Body=b"1")
    sys.exit("first attempt fails on purpose")
'''


def _run(ws: Workspace, steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None,
         overrides: list[dict[str, str]] | None = None, name: str | None = None) -> tuple[str, str]:
    name = name or f"p-{ws.tag}"
    definition = {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": steps}
    ws.sm.create_pipeline(PipelineName=name, RoleArn="arn:aws:iam::123456789012:role/x",
                          PipelineDefinition=json.dumps(definition))
    arn = ws.sm.start_pipeline_execution(PipelineName=name, PipelineParameters=overrides or [])[
        "PipelineExecutionArn"]
    return name, arn


def _final_status(ws: Workspace, arn: str, timeout: float = 120) -> str:
    def done() -> str | None:
        status = ws.sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        return None if status in ("Executing", "Stopping") else status
    status = wait_until(done, timeout, 0.2)
    assert status, "execution did not finish in time"
    return status


def _steps(ws: Workspace, arn: str) -> dict[str, dict[str, Any]]:
    return {s["StepName"]: s for s in ws.sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"]}


def _gated_pipeline(ws: Workspace, group: str) -> tuple[list[dict], list[dict]]:
    run = {"Std:Join": {"On": "/", "Values": [ws.uri("runs"), {"Get": "Execution.PipelineExecutionId"}]}}
    prep = {"Name": "Prep", "Type": "Processing",
            "Arguments": ws.processing(["python3", "/opt/ml/processing/input/code/prep.py"],
                                       [("data", {"Get": "Parameters.Data"}, "/opt/ml/processing/input/data"),
                                        ("code", ws.uri("code/prep.py"), "/opt/ml/processing/input/code")],
                                       [("train", {"Std:Join": {"On": "/", "Values": [run, "train"]}},
                                         "/opt/ml/processing/train")],
                                       env={"SCORE": {"Get": "Parameters.Score"}}),
            "PropertyFiles": [{"PropertyFileName": "Report", "OutputName": "train", "FilePath": "report.json"}]}
    train = {"Name": "Train", "Type": "Training", "DependsOn": ["Prep"], "Arguments": ws.training(
        {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
        {"fit_intercept": {"Get": "Parameters.FitIntercept"}})}
    register = {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {"Containers": [{
            "Image": SKLEARN_IMAGE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
            "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": "PendingManualApproval"}}
    fail = {"Name": "LowScore", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": [
        "score", {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Report"},
                                  "Path": "quality.score"}}, "is below", {"Get": "Parameters.MinScore"}]}}}}
    gate = {"Name": "Gate", "Type": "Condition", "DependsOn": ["Train"], "Arguments": {
        "Conditions": [{"Type": "GreaterThanOrEqualTo",
                        "LeftValue": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Report"},
                                                      "Path": "quality.score"}},
                        "RightValue": {"Get": "Parameters.MinScore"}}],
        "IfSteps": [register], "ElseSteps": [fail]}}
    parameters = [{"Name": "Data", "Type": "String", "DefaultValue": ws.uri("data/")},
                  {"Name": "Score", "Type": "String", "DefaultValue": "0.75"},
                  {"Name": "FitIntercept", "Type": "Integer", "DefaultValue": 1},
                  {"Name": "MinScore", "Type": "Float", "DefaultValue": 0.5}]
    return [prep, train, gate], parameters


def test_gated_pipeline_runs_both_branches(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    group = f"g-{ws.tag}"
    ws.sm.create_model_package_group(ModelPackageGroupName=group)
    steps, parameters = _gated_pipeline(ws, group)
    name, arn = _run(ws, steps, parameters)
    assert _final_status(ws, arn) == "Succeeded", [(n, s.get("FailureReason")) for n, s in _steps(ws, arn).items()]
    by = _steps(ws, arn)
    assert {n: s["StepStatus"] for n, s in by.items()} == {
        "Prep": "Succeeded", "Train": "Succeeded", "Gate": "Succeeded", "Register": "Succeeded"}
    assert by["Gate"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert all(s["EndTime"] >= s["StartTime"] for s in by.values())

    train_job = by["Train"]["Metadata"]["TrainingJob"]["Arn"].split("/")[-1]
    described = ws.sm.describe_training_job(TrainingJobName=train_job)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["HyperParameters"]["fit_intercept"] == "1"  # typed parameter, sent as a string
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics["score"] == pytest.approx(1.0, abs=1e-6)  # the data is exactly linear
    prep_job = by["Prep"]["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    prep = ws.sm.describe_processing_job(ProcessingJobName=prep_job)
    execution_id = arn.split("/")[-1]
    assert prep["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == ws.uri(f"runs/{execution_id}/train")
    package = ws.sm.describe_model_package(ModelPackageName=by["Register"]["Metadata"]["RegisterModel"]["Arn"])
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == described["ModelArtifacts"][
        "S3ModelArtifacts"]

    # the other branch: the Fail step's resolved message becomes the failure reason
    arn2 = ws.sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Score", "Value": "0.25"}])["PipelineExecutionArn"]
    assert _final_status(ws, arn2) == "Failed"
    by2 = _steps(ws, arn2)
    assert "Register" not in by2
    assert by2["LowScore"]["StepStatus"] == "Failed"
    assert by2["LowScore"]["FailureReason"] == "score 0.25 is below 0.5"
    assert ws.sm.describe_pipeline_execution(PipelineExecutionArn=arn2)["FailureReason"] == "score 0.25 is below 0.5"
    assert len(ws.sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) == 1
    summaries = ws.sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [s["PipelineExecutionArn"] for s in summaries] == [arn2, arn]


@pytest.mark.parametrize("definition, message", [
    ("{not json", "JSON"),
    (json.dumps({"Version": "2020-12-01", "Steps": []}), "Steps"),
    (json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Processing", "Arguments": {},
                                                     "DependsOn": ["Nope"]}]}), "Nope"),
    (json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Teleport", "Arguments": {}}]}),
     "Teleport"),
])
def test_malformed_definitions_are_refused_at_create(localcloud: LocalCloud, definition: str, message: str) -> None:
    sm = localcloud.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName="bad", RoleArn="arn:aws:iam::123456789012:role/x",
                           PipelineDefinition=definition)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert message in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        sm.describe_pipeline(PipelineName="bad")


def test_bad_parameter_value_is_refused_at_start(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    steps = [{"Name": "Nothing", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]
    name, _ = _run(ws, steps, [{"Name": "N", "Type": "Integer", "DefaultValue": 1}])
    with pytest.raises(ClientError) as e:
        ws.sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": "N", "Value": "many"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "N" in e.value.response["Error"]["Message"]


def test_stop_execution_stops_the_running_job(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    steps = [{"Name": "Sleep", "Type": "Processing",
              "Arguments": ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])},
             {"Name": "After", "Type": "Fail", "DependsOn": ["Sleep"], "Arguments": {"ErrorMessage": "never"}}]
    _, arn = _run(ws, steps)
    assert wait_until(lambda: _steps(ws, arn).get("Sleep", {}).get("StepStatus") == "Executing", 20)
    ws.sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert _final_status(ws, arn, 30) == "Stopped"
    by = _steps(ws, arn)
    assert by["Sleep"]["StepStatus"] == "Stopped" and "After" not in by
    job = by["Sleep"]["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    assert ws.sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError):
        ws.sm.stop_pipeline_execution(PipelineExecutionArn=arn)


def test_retry_reruns_only_the_failed_step(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    ws.put("code/retry.py", RETRY_ONCE.encode())
    first = {"Name": "First", "Type": "Processing", "Arguments": ws.processing(
        ["python3", "-c", "print('ok')"], [], [])}
    flaky = {"Name": "Flaky", "Type": "Processing", "DependsOn": ["First"], "Arguments": ws.processing(
        ["python3", "/opt/ml/processing/input/code/retry.py"],
        [("code", ws.uri("code/retry.py"), "/opt/ml/processing/input/code")], [],
        env={"MARKER_BUCKET": ws.bucket})}
    _, arn = _run(ws, [first, flaky])
    assert _final_status(ws, arn) == "Failed"
    failed = _steps(ws, arn)
    assert "first attempt fails on purpose" in failed["Flaky"]["FailureReason"]
    first_job = failed["First"]["Metadata"]["ProcessingJob"]["Arn"]
    ws.sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="retry-" + "0" * 32)
    assert _final_status(ws, arn) == "Succeeded"
    again = _steps(ws, arn)
    assert again["First"]["Metadata"]["ProcessingJob"]["Arn"] == first_job  # not run again
    assert again["Flaky"]["StepStatus"] == "Succeeded" and again["Flaky"]["AttemptCount"] == 2


def test_unsupported_image_fails_the_step_with_a_reason(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-image:latest"
    steps = [{"Name": "Custom", "Type": "Processing",
              "Arguments": ws.processing(["python3", "-c", "print(1)"], [], [], image=image)}]
    _, arn = _run(ws, steps)
    assert _final_status(ws, arn) == "Failed"
    reason = _steps(ws, arn)["Custom"]["FailureReason"]
    assert image in reason and "container runtime" in reason


VERSIONS = "import sys, sklearn, pandas; print('versions', sys.version.split()[0], sklearn.__version__, " \
           "pandas.__version__)"


def test_two_images_in_one_pipeline_each_get_their_own_versions(localcloud: LocalCloud) -> None:
    """Each step runs on its own image's runtime, and its job log says which (Python and libraries)."""
    ws = Workspace(localcloud)
    old = SKLEARN_IMAGE.replace(":1.9-0-", ":1.2-1-")
    steps = [{"Name": name, "Type": "Processing",
              "Arguments": ws.processing(["python3", "-c", VERSIONS], [], [], image=image)}
             for name, image in (("New", SKLEARN_IMAGE), ("Old", old))]
    _, arn = _run(ws, steps)
    assert _final_status(ws, arn) == "Succeeded"
    logs = localcloud.client("logs")
    seen = {}
    for name, step in _steps(ws, arn).items():
        job = step["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
        group = "/aws/sagemaker/ProcessingJobs"
        stream = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job}/")["logStreams"][0]
        lines = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                                           startFromHead=True)["events"]]
        header = next(line for line in lines if "runs on the local" in line)
        printed = next(line for line in lines if line.startswith("versions "))
        seen[name] = (header.split(" runtime ", 1)[0].rsplit(" ", 1)[-1], printed.split()[1].rsplit(".", 1)[0],
                      *printed.split()[2:])
    assert seen == {"New": ("sagemaker-scikit-learn:1.9-0", "3.12", "1.9.0", "2.2.3"),
                    "Old": ("sagemaker-scikit-learn:1.2-1", "3.9", "1.2.1", "1.1.3")}


def test_missing_and_duplicate_pipelines_get_awss_errors(localcloud: LocalCloud) -> None:
    sm = localcloud.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline(PipelineName="no-such-pipeline")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    definition = json.dumps({"Version": "2020-12-01", "Steps": [
        {"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]})
    sm.create_pipeline(PipelineName="twice", RoleArn="arn:aws:iam::123456789012:role/x", PipelineDefinition=definition)
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName="twice", RoleArn="arn:aws:iam::123456789012:role/x",
                           PipelineDefinition=definition)
    assert e.value.response["Error"]["Message"].startswith("Pipeline names must be unique")


def test_concurrent_retries_start_exactly_one_runner(localcloud: LocalCloud) -> None:
    """Sixteen clients retry a failed execution at once: one is accepted, the rest are refused (five rounds).

    The step takes a second to fail, so the accepted retry is still running while the others arrive
    (a retry that came after it had failed again would rightly be accepted too).
    """
    ws = Workspace(localcloud)
    fail_slowly = "import time; time.sleep(1); raise SystemExit('always fails')"
    failing = {"Name": "Fails", "Type": "Processing",
               "Arguments": ws.processing(["python3", "-c", fail_slowly], [], [])}
    arns = [_run(ws, [failing], name=f"p-{ws.tag}-{i}")[1] for i in range(5)]
    clients = [localcloud.client("sagemaker") for _ in range(16)]
    for arn in arns:
        assert _final_status(ws, arn) == "Failed"
        barrier = threading.Barrier(len(clients))
        outcomes: list[str] = []

        def retry(sm: Any, arn: str = arn, barrier: threading.Barrier = barrier, outcomes: list = outcomes) -> None:
            barrier.wait()
            try:
                sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
                outcomes.append("accepted")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=retry, args=(sm,)) for sm in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("accepted") == 1, outcomes
        assert set(outcomes) == {"accepted", "ValidationException"}
        assert _final_status(ws, arn) == "Failed"
        assert _steps(ws, arn)["Fails"]["AttemptCount"] == 2


def test_a_caching_step_reuses_the_last_run_with_the_same_inputs(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    prep = {"Name": "Prep", "Type": "Processing", "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"},
            "Arguments": ws.processing(["python3", "/opt/ml/processing/input/code/prep.py"],
                                       [("data", ws.uri("data/"), "/opt/ml/processing/input/data"),
                                        ("code", ws.uri("code/prep.py"), "/opt/ml/processing/input/code")],
                                       [("train", ws.uri("prepared"), "/opt/ml/processing/train")],
                                       env={"SCORE": {"Get": "Parameters.Score"}})}
    use = {"Name": "Use", "Type": "Fail", "Arguments": {"ErrorMessage": {
        "Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}
    parameters = [{"Name": "Score", "Type": "String", "DefaultValue": "0.75"}]
    name, first = _run(ws, [prep, use], parameters)
    assert _final_status(ws, first) == "Failed"  # the Fail step reports what it read from Prep
    ran = _steps(ws, first)["Prep"]
    assert ran["StepStatus"] == "Succeeded" and "CacheHitResult" not in ran

    def again(score: str) -> dict[str, Any]:
        arn = ws.sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
            {"Name": "Score", "Value": score}])["PipelineExecutionArn"]
        assert _final_status(ws, arn) == "Failed"
        steps = _steps(ws, arn)
        assert steps["Use"]["FailureReason"] == ws.uri("prepared")  # the reused step's properties resolve
        return steps["Prep"]

    hit = again("0.75")
    assert hit["StepStatus"] == "Succeeded"
    assert hit["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert hit["Metadata"] == ran["Metadata"]  # the same job: nothing ran again
    jobs = ws.sm.list_processing_jobs(NameContains=first.rsplit("/", 1)[-1])["ProcessingJobSummaries"]
    assert len(jobs) == 1

    changed = again("0.5")  # Environment is part of the cache key: a new run
    assert "CacheHitResult" not in changed
    assert changed["Metadata"]["ProcessingJob"]["Arn"] != ran["Metadata"]["ProcessingJob"]["Arn"]
