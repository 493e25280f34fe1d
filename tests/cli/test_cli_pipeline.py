"""`sagestack deploy/names` and `pipeline start/list/steps`: the stack's taxi pipeline on a little generated data."""

from __future__ import annotations

import io
import re

import pytest
from cli_support import Stack, invoke
from support import LocalCloud

from infra import outputs
from training.datagen import generate_month

FAST = ["-p", "MaxIter=15", "-p", "MaxLeafNodes=8"]  # a small model: the run is about the plumbing


@pytest.fixture(scope="module")
def deployed(localcloud: LocalCloud, stack: Stack) -> Stack:
    """The stack's pipeline with one month of 1500 generated trips where it reads data by default."""
    buf = io.BytesIO()
    generate_month(2024, 1, trips=1500, seed=11).to_parquet(buf, index=False)
    bucket, _, prefix = stack[outputs.INPUT_DATA_URI].removeprefix("s3://").partition("/")
    localcloud.client("s3").put_object(Bucket=bucket, Key=f"{prefix}2024-01.parquet", Body=buf.getvalue())
    return stack


def test_deploy_made_the_stack_and_names_say_where_each_name_comes_from(localcloud: LocalCloud,
                                                                       deployed: Stack) -> None:
    result = invoke([*deployed.options, "names"])
    assert result.exit_code == 0, result.output
    pipeline = deployed[outputs.PIPELINE_NAME]
    assert re.search(rf"pipeline_name\s+{pipeline}\s+output PipelineName of SageStack-local", result.stdout)
    assert re.search(rf"model_package_group\s+{deployed[outputs.MODEL_PACKAGE_GROUP]}\s+output", result.stdout)
    assert re.search(r"stack\s+SageStack-local\s+(CREATE|UPDATE)_COMPLETE", result.stdout)
    override = invoke([*deployed.options, "--pipeline", "elsewhere", "names"])
    assert re.search(r"pipeline_name\s+elsewhere\s+override", override.stdout), override.stdout
    sm = localcloud.client("sagemaker")
    definition = sm.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"]
    assert deployed[outputs.INPUT_DATA_URI] in definition and deployed[outputs.MODEL_PACKAGE_GROUP] in definition

    again = invoke([*deployed.options, "deploy"])  # nothing changed: the CDK CLI finds nothing to do
    assert again.exit_code == 0, again.output
    assert "(no changes)" in again.stderr and re.search(r"is (CREATE|UPDATE)_COMPLETE", again.stdout)


def test_start_follows_a_successful_run_to_the_registered_model(localcloud: LocalCloud, deployed: Stack) -> None:
    group = deployed[outputs.MODEL_PACKAGE_GROUP]  # other modules register in the stack's group too
    sm = localcloud.client("sagemaker")
    version = len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) + 1
    result = invoke([*deployed.options, "pipeline", "start", *FAST, "--rmse-threshold", "100",
                     "--display-name", "cli-test-run", "--poll", "0.3"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for step in ("Preprocess", "Train", "Evaluate", "Baseline", "RmseGate", "Register"):
        assert re.search(rf"{step}: Succeeded", out), f"{step} missing from the progress log:\n{out}"
    assert "RmseGate: Succeeded after" in out and "outcome True" in out
    assert re.search(r"execution \w+ Succeeded in ", out)
    assert f"registered model package version {version}" in out and f"sagestack model approve {version}" in out
    [package] = [p for p in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
                 if p["ModelPackageVersion"] == version]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"

    execution_id = re.search(r"started execution (\w+) of", out).group(1)
    steps = invoke([*deployed.options, "pipeline", "steps", execution_id])
    assert steps.exit_code == 0, steps.output
    assert f"execution {execution_id}  Succeeded" in steps.stdout
    assert re.search(rf"Register\s+RegisterModel\s+Succeeded.*model package {version}", steps.stdout)
    assert re.search(r"Train\s+Training\s+Succeeded", steps.stdout)
    runs = invoke([*deployed.options, "pipeline", "list"])
    assert re.search(rf"^{execution_id}\s+Succeeded\s+.*cli-test-run", runs.stdout, re.MULTILINE), runs.stdout

    listed = invoke([*deployed.options, "model", "list"])
    assert re.search(rf"^{version}\s+Completed\s+PendingManualApproval\s+\S+ \S+\s+\d+\.\d+", listed.stdout,
                     re.MULTILINE), \
        listed.stdout  # the evaluation report's metrics are shown


def test_failed_run_exits_non_zero_with_the_reason(localcloud: LocalCloud, deployed: Stack) -> None:
    empty = f"s3://{deployed[outputs.DATA_BUCKET]}/nothing-here/"
    result = invoke([*deployed.options, "pipeline", "start", "--input", empty, "--poll", "0.3"])
    assert result.exit_code == 1, result.output
    assert "Preprocess: Failed" in result.stdout  # shown live
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1
    assert re.match(r"error: execution \w+ Failed after [\d.]+s: ", error), error
    assert "Preprocess" in error and empty in error, error  # the failed step's own reason


def test_no_wait_list_and_steps(localcloud: LocalCloud, deployed: Stack) -> None:
    opts = deployed.options
    started = invoke([*opts, "pipeline", "start", "--no-wait", "--input", f"s3://{deployed[outputs.DATA_BUCKET]}/nothing-here/"])
    assert started.exit_code == 0, started.output
    execution_id = re.search(r"started execution (\w+) of", started.stdout).group(1)
    assert f"InputDataUri=s3://{deployed[outputs.DATA_BUCKET]}/nothing-here/" in started.stdout
    assert f"sagestack pipeline steps --follow {execution_id}" in started.stdout
    followed = invoke([*opts, "pipeline", "steps", "--follow", execution_id, "--poll", "0.2"])
    assert followed.exit_code == 1, followed.output  # it follows to the end, which is a failure here
    assert "Preprocess: Failed" in followed.stdout
    assert followed.stderr.startswith(f"error: execution {execution_id} Failed after ")
    sm = localcloud.client("sagemaker")
    pipeline = deployed[outputs.PIPELINE_NAME]
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{pipeline}/execution/{execution_id}"
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Failed"

    listed = invoke([*opts, "pipeline", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.stdout.splitlines()[2:] if line.strip()]
    assert rows[0][:2] == [execution_id, "Failed"]  # newest first
    truth = sm.list_pipeline_executions(PipelineName=deployed[outputs.PIPELINE_NAME])["PipelineExecutionSummaries"]
    assert {(row[0], row[1]) for row in rows} == {
        (e["PipelineExecutionArn"].rsplit("/", 1)[-1], e["PipelineExecutionStatus"]) for e in truth}

    latest = invoke([*opts, "pipeline", "steps"])
    assert latest.exit_code == 0, latest.output
    assert f"execution {execution_id}" in latest.stdout
    assert re.search(r"Preprocess\s+Processing\s+Failed", latest.stdout)
    assert "failure: " in latest.stdout and "nothing-here" in latest.stdout


def test_bad_parameters_are_refused_before_starting(localcloud: LocalCloud, deployed: Stack) -> None:
    opts = deployed.options
    before = len(localcloud.client("sagemaker").list_pipeline_executions(
        PipelineName=deployed[outputs.PIPELINE_NAME])["PipelineExecutionSummaries"])
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
        PipelineName=deployed[outputs.PIPELINE_NAME])["PipelineExecutionSummaries"])
    assert after == before


def test_a_missing_stack_or_pipeline_is_a_one_line_error(localcloud: LocalCloud) -> None:
    result = invoke(["--endpoint-url", localcloud.url, "--stage", "prod", "pipeline", "start"])
    assert result.exit_code == 1
    assert result.stderr == (f"error: stack SageStack-prod is not deployed on localcloud at {localcloud.url}: deploy "
                             "it with `sagestack --stage prod deploy` or set --pipeline / SAGESTACK_PIPELINE\n")
    result = invoke(["--endpoint-url", localcloud.url, "--pipeline", "no-such-pipeline-x", "pipeline", "start"])
    assert result.exit_code == 1
    assert result.stderr == ("error: pipeline no-such-pipeline-x does not exist; deploy the stack with "
                             "`sagestack deploy`\n")
