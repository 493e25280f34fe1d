"""Batch transform: the model's container over S3 objects, directly and as a pipeline step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lc_fixtures import ROLE, SKLEARN_IMAGE, Workspace
from support import LocalCloud, wait_until


@pytest.fixture(scope="module")
def model(localcloud: LocalCloud) -> tuple[Workspace, dict[str, Any]]:
    """A trained linear model's serving container (y = 2a - b + c/2 + 3)."""
    ws = Workspace(localcloud)
    ws.sm.create_training_job(TrainingJobName=f"t-{ws.tag}", **ws.training(ws.uri("data/")))
    assert wait_until(lambda: ws.sm.describe_training_job(TrainingJobName=f"t-{ws.tag}")["TrainingJobStatus"]
                      == "Completed", 120, 0.2)
    artifacts = ws.sm.describe_training_job(TrainingJobName=f"t-{ws.tag}")["ModelArtifacts"]["S3ModelArtifacts"]
    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts,
                 "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                                 "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}
    ws.put("batch/in/part-a.csv", b"0,0,0\n1,0,0\n")
    ws.put("batch/in/part-b.csv", b"0,1,2\n")
    return ws, container


def _transform(ws: Workspace, model_name: Any, output: Any) -> dict[str, Any]:
    return {"ModelName": model_name, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                               "S3Uri": ws.uri("batch/in/")}},
                               "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": output, "Accept": "text/csv", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}


def _read(ws: Workspace, key: str) -> list[float]:
    return [float(v) for v in ws.s3.get_object(Bucket=ws.bucket, Key=key)["Body"].read().split()]


def test_transform_job_writes_one_output_per_input_object(model: tuple[Workspace, dict[str, Any]]) -> None:
    ws, container = model
    ws.sm.create_model(ModelName=f"m-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    name = f"tj-{ws.tag}"
    ws.sm.create_transform_job(TransformJobName=name, **_transform(ws, f"m-{ws.tag}", ws.uri("batch/out")))
    assert ws.sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "InProgress"
    assert wait_until(lambda: ws.sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]
                      != "InProgress", 60, 0.2)
    described = ws.sm.describe_transform_job(TransformJobName=name)
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert _read(ws, "batch/out/part-a.csv.out") == pytest.approx([3.0, 5.0], abs=1e-4)
    assert _read(ws, "batch/out/part-b.csv.out") == pytest.approx([3.0], abs=1e-4)


def test_transform_with_a_broken_model_fails_with_its_reason(model: tuple[Workspace, dict[str, Any]]) -> None:
    ws, container = model
    broken = {**container, "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                           "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/broken.tar.gz")}}
    ws.sm.create_model(ModelName=f"broken-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer=broken)
    name = f"tj-broken-{ws.tag}"
    ws.sm.create_transform_job(TransformJobName=name, **_transform(ws, f"broken-{ws.tag}", ws.uri("batch/x")))
    assert wait_until(lambda: ws.sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]
                      != "InProgress", 60, 0.2)
    described = ws.sm.describe_transform_job(TransformJobName=name)
    assert described["TransformJobStatus"] == "Failed"
    assert "cannot load model 3c9e" in described["FailureReason"]


def test_model_then_transform_as_pipeline_steps(model: tuple[Workspace, dict[str, Any]]) -> None:
    ws, container = model
    steps = [
        {"Name": "MakeModel", "Type": "Model", "Arguments": {"ExecutionRoleArn": ROLE, "PrimaryContainer": container}},
        {"Name": "Score", "Type": "Transform", "Arguments": _transform(
            ws, {"Get": "Steps.MakeModel.ModelName"},
            {"Std:Join": {"On": "/", "Values": [ws.uri("scored"), {"Get": "Execution.PipelineExecutionId"}]}})},
    ]
    ws.sm.create_pipeline(PipelineName=f"score-{ws.tag}", RoleArn=ROLE,
                          PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": steps}))
    arn = ws.sm.start_pipeline_execution(PipelineName=f"score-{ws.tag}")["PipelineExecutionArn"]
    assert wait_until(lambda: ws.sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
        "PipelineExecutionStatus"] != "Executing", 90, 0.2)
    by = {s["StepName"]: s for s in ws.sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"]}
    assert by["Score"]["StepStatus"] == "Succeeded", by["Score"].get("FailureReason")
    assert "TransformJob" in by["Score"]["Metadata"]
    assert _read(ws, f"scored/{arn.split('/')[-1]}/part-a.csv.out") == pytest.approx([3.0, 5.0], abs=1e-4)
