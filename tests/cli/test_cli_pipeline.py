"""`sagestack pipeline upsert/start/list/steps` with the real taxi pipeline on a little generated data."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from cli_support import Names, invoke
from support import LocalCloud

from training.datagen import generate_month

FAST = ["-p", "MaxIter=15", "-p", "MaxLeafNodes=8"]  # a small model: the run is about the plumbing


@pytest.fixture(scope="module")
def deployed(localcloud: LocalCloud) -> Iterator[Names]:
    """The pipeline upserted by the CLI into a fresh bucket, with one month of 1500 generated trips."""
    names = Names()
    result = invoke([*names.options(localcloud.url), "pipeline", "upsert"])
    assert result.exit_code == 0, result.output
    assert f"created bucket {names.bucket}" in result.stdout
    assert f"created model package group {names.group}" in result.stdout
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{names.pipeline}"
    assert f"pipeline {names.pipeline} created ({arn})" in result.stdout
    buf = io.BytesIO()
    generate_month(2024, 1, trips=1500, seed=11).to_parquet(buf, index=False)
    localcloud.client("s3").put_object(Bucket=names.bucket, Key="taxi-duration/data/2024-01.parquet",
                                       Body=buf.getvalue())
    yield names


def test_upsert_uploads_code_and_is_idempotent(localcloud: LocalCloud, deployed: Names) -> None:
    s3, sm = localcloud.client("s3"), localcloud.client("sagemaker")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=deployed.bucket, Prefix="taxi-duration/code/")["Contents"]]
    assert sorted(k.rsplit("/", 1)[-1] for k in keys) == ["baseline.py", "evaluate.py", "preprocess.py",
                                                          "sourcedir.tar.gz", "sourcedir.tar.gz"]
    definition = sm.describe_pipeline(PipelineName=deployed.pipeline)["PipelineDefinition"]
    assert all(f"s3://{deployed.bucket}/{k}" in definition for k in keys)  # it runs exactly the uploaded code

    again = invoke([*deployed.options(localcloud.url), "pipeline", "upsert"])
    assert again.exit_code == 0, again.output
    assert "job code: 0 object(s) uploaded, 5 already in" in again.stdout
    assert f"pipeline {deployed.pipeline} unchanged" in again.stdout

    changed = invoke([*deployed.options(localcloud.url), "pipeline", "upsert", "--rmse-threshold", "42"])
    assert changed.exit_code == 0, changed.output
    assert f"pipeline {deployed.pipeline} updated" in changed.stdout
    assert '"DefaultValue":42.0' in sm.describe_pipeline(PipelineName=deployed.pipeline)["PipelineDefinition"]


def test_start_follows_a_successful_run_to_the_registered_model(localcloud: LocalCloud, deployed: Names) -> None:
    result = invoke([*deployed.options(localcloud.url), "pipeline", "start", *FAST, "--rmse-threshold", "100",
                     "--display-name", "cli-test-run", "--poll", "0.3"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for step in ("Preprocess", "Train", "Evaluate", "Baseline", "RmseGate", "Register"):
        assert re.search(rf"{step}: Succeeded", out), f"{step} missing from the progress log:\n{out}"
    assert "RmseGate: Succeeded after" in out and "outcome True" in out
    assert re.search(r"execution \w+ Succeeded in ", out)
    assert "registered model package version 1" in out and "sagestack model approve 1" in out
    packages = localcloud.client("sagemaker").list_model_packages(ModelPackageGroupName=deployed.group)
    assert [p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]] == ["PendingManualApproval"]

    execution_id = re.search(r"started execution (\w+) of", out).group(1)
    steps = invoke([*deployed.options(localcloud.url), "pipeline", "steps", execution_id])
    assert steps.exit_code == 0, steps.output
    assert f"execution {execution_id}  Succeeded" in steps.stdout
    assert re.search(r"Register\s+RegisterModel\s+Succeeded.*model package 1", steps.stdout)
    assert re.search(r"Train\s+Training\s+Succeeded", steps.stdout)
    runs = invoke([*deployed.options(localcloud.url), "pipeline", "list"])
    assert re.search(rf"^{execution_id}\s+Succeeded\s+.*cli-test-run", runs.stdout, re.MULTILINE), runs.stdout

    listed = invoke([*deployed.options(localcloud.url), "model", "list"])
    assert re.search(r"^1\s+Completed\s+PendingManualApproval\s+\S+ \S+\s+\d+\.\d+", listed.stdout, re.MULTILINE), \
        listed.stdout  # the evaluation report's metrics are shown


def test_failed_run_exits_non_zero_with_the_reason(localcloud: LocalCloud, deployed: Names) -> None:
    empty = f"s3://{deployed.bucket}/nothing-here/"
    result = invoke([*deployed.options(localcloud.url), "pipeline", "start", "--input", empty, "--poll", "0.3"])
    assert result.exit_code == 1, result.output
    assert "Preprocess: Failed" in result.stdout  # shown live
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1
    assert re.match(r"error: execution \w+ Failed after [\d.]+s: ", error), error
    assert "Preprocess" in error and empty in error, error  # the failed step's own reason


def test_no_wait_list_and_steps(localcloud: LocalCloud, deployed: Names) -> None:
    opts = deployed.options(localcloud.url)
    started = invoke([*opts, "pipeline", "start", "--no-wait", "--input", f"s3://{deployed.bucket}/nothing-here/"])
    assert started.exit_code == 0, started.output
    execution_id = re.search(r"started execution (\w+) of", started.stdout).group(1)
    assert f"InputDataUri=s3://{deployed.bucket}/nothing-here/" in started.stdout
    assert f"sagestack pipeline steps --follow {execution_id}" in started.stdout
    followed = invoke([*opts, "pipeline", "steps", "--follow", execution_id, "--poll", "0.2"])
    assert followed.exit_code == 1, followed.output  # it follows to the end, which is a failure here
    assert "Preprocess: Failed" in followed.stdout
    assert followed.stderr.startswith(f"error: execution {execution_id} Failed after ")
    sm = localcloud.client("sagemaker")
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{deployed.pipeline}/execution/{execution_id}"
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Failed"

    listed = invoke([*opts, "pipeline", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.splitlines()[2:] if line.strip()]
    assert rows[0][:2] == [execution_id, "Failed"]  # newest first
    truth = sm.list_pipeline_executions(PipelineName=deployed.pipeline)["PipelineExecutionSummaries"]
    assert {(row[0], row[1]) for row in rows} == {
        (e["PipelineExecutionArn"].rsplit("/", 1)[-1], e["PipelineExecutionStatus"]) for e in truth}

    latest = invoke([*opts, "pipeline", "steps"])
    assert latest.exit_code == 0, latest.output
    assert f"execution {execution_id}" in latest.stdout
    assert re.search(r"Preprocess\s+Processing\s+Failed", latest.stdout)
    assert "failure: " in latest.stdout and "nothing-here" in latest.stdout


def test_bad_parameters_are_refused_before_starting(localcloud: LocalCloud, deployed: Names) -> None:
    opts = deployed.options(localcloud.url)
    before = len(localcloud.client("sagemaker").list_pipeline_executions(
        PipelineName=deployed.pipeline)["PipelineExecutionSummaries"])
    unknown = invoke([*opts, "pipeline", "start", "-p", "RmseTreshold=5"])
    assert unknown.exit_code == 2
    assert "has no parameter RmseTreshold (it has: InputDataUri," in unknown.output
    typed = invoke([*opts, "pipeline", "start", "-p", "MaxIter=many"])
    assert typed.exit_code == 2 and "MaxIter takes a value of type Integer, not 'many'" in typed.output
    enum = invoke([*opts, "pipeline", "start", "-p", "ModelApprovalStatus=Maybe"])
    assert enum.exit_code == 2 and "ModelApprovalStatus must be one of" in enum.output
    malformed = invoke([*opts, "pipeline", "start", "-p", "MaxIter"])
    assert malformed.exit_code == 2 and "'MaxIter' is not NAME=VALUE" in malformed.output
    after = len(localcloud.client("sagemaker").list_pipeline_executions(
        PipelineName=deployed.pipeline)["PipelineExecutionSummaries"])
    assert after == before


def test_missing_pipeline_is_a_one_line_error(localcloud: LocalCloud) -> None:
    result = invoke(["--endpoint-url", localcloud.url, "--pipeline", "no-such-pipeline-x", "pipeline", "start"])
    assert result.exit_code == 1
    assert result.stderr == ("error: pipeline no-such-pipeline-x does not exist; create it with "
                             "`sagestack pipeline upsert`\n")
