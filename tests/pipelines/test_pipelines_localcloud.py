"""The taxi pipeline end to end on localcloud, driven only through AWS's API (boto3).

One small synthetic month goes through the real definition: preprocess, train, evaluate,
baseline, the quality gate, registration; the registered package is then approved and
deployed and answers real CSV requests. A second execution with an impossible threshold
must stop at the Fail step and register nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support import wait_until

from training.preprocess import FEATURES as PREPROCESS_FEATURES

pytestmark = pytest.mark.localcloud

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SMALL_RUN = [{"Name": "MaxIter", "Value": "30"}]  # small, to keep the run light on 2 cores
FEATURES = list(PREPROCESS_FEATURES)  # the taxi model's inputs, in training/preprocess.py's order
STEPS = ["Preprocess", "Train", "Evaluate", "Baseline", "RmseGate", "Register"]


def _read(s3: Any, uri: str) -> bytes:
    assert uri.startswith("s3://"), uri
    bucket, key = uri[5:].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _finished(sm: Any, arn: str) -> str | None:
    status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
    return None if status in ("Executing", "Stopping") else status


def _steps(sm: Any, arn: str) -> dict[str, dict[str, Any]]:
    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {s["StepName"]: s for s in listed}


def _packages(sm: Any, group: str) -> list[dict[str, Any]]:
    return sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]


@pytest.fixture(scope="module")
def deployed(localcloud) -> dict[str, Any]:
    """Data, code and the pipeline in a fresh bucket and group; what later tests need."""
    from pipelines.code_bundle import build_code_bundle
    from pipelines.config import PipelineConfig
    from pipelines.definition import definition_json
    from training.datagen import generate_month

    tag = uuid.uuid4().hex[:8]
    config = PipelineConfig(
        role_arn=ROLE,
        bucket=f"taxi-{tag}",
        pipeline_name=f"taxi-{tag}",
        model_package_group_name=f"taxi-{tag}",
    )
    s3, sm = localcloud.client("s3"), localcloud.client("sagemaker")
    s3.create_bucket(Bucket=config.bucket)
    month = io.BytesIO()
    generate_month(2024, 1, trips=6000, seed=7).to_parquet(month, index=False)
    assert config.input_data_uri == f"s3://{config.bucket}/taxi-duration/data/"
    s3.put_object(Bucket=config.bucket, Key="taxi-duration/data/yellow_tripdata_2024-01.parquet", Body=month.getvalue())

    bundle = build_code_bundle(config.bucket, config.code_prefix)
    for key, data in bundle.items():  # what the CDK app ships as assets, put here by hand
        s3.put_object(Bucket=config.bucket, Key=key, Body=data)
    sm.create_model_package_group(ModelPackageGroupName=config.model_package_group_name)
    definition = definition_json(config, bundle)
    sm.create_pipeline(PipelineName=config.pipeline_name, RoleArn=ROLE, PipelineDefinition=definition)
    stored = sm.describe_pipeline(PipelineName=config.pipeline_name)["PipelineDefinition"]
    assert json.loads(stored) == json.loads(definition)
    return {"config": config, "bundle": bundle}


def test_execution_registers_a_model_that_serves_predictions(localcloud, deployed):
    config, bundle = deployed["config"], deployed["bundle"]
    s3, sm, runtime, cw = (localcloud.client(n) for n in ("s3", "sagemaker", "sagemaker-runtime", "cloudwatch"))
    group = config.model_package_group_name

    arn = sm.start_pipeline_execution(PipelineName=config.pipeline_name, PipelineParameters=SMALL_RUN)[
        "PipelineExecutionArn"
    ]
    execution_id = arn.rsplit("/", 1)[1]
    status = wait_until(lambda: _finished(sm, arn), timeout=240, every=0.5)
    steps = _steps(sm, arn)
    assert status == "Succeeded", (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn).get("FailureReason"),
        {n: (s["StepStatus"], s.get("FailureReason")) for n, s in steps.items()},
    )
    assert {name: s["StepStatus"] for name, s in steps.items()} == dict.fromkeys(STEPS, "Succeeded")
    assert steps["RmseGate"]["Metadata"]["Condition"]["Outcome"] == "True"

    # Training ran train.py in script mode with the run's hyperparameters, and its metric lines were parsed.
    job_name = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    job = sm.describe_training_job(TrainingJobName=job_name)
    assert json.loads(job["HyperParameters"]["max_iter"]) == 30
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert 0 < metrics["validation:rmse"] < 15 and 0 < metrics["train:rmse"] < 15
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts.startswith(f"{config.runs_uri}/{execution_id}/train/")

    # The package: pending approval, metrics and drift baselines pointing at this run's real files.
    [summary] = _packages(sm, group)
    package_arn = summary["ModelPackageArn"]
    assert steps["Register"]["Metadata"]["RegisterModel"]["Arn"] == package_arn
    package = sm.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    [container] = package["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == artifacts
    assert container["Image"] == config.image_uri
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == bundle.uri("inference")
    quality_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert quality_uri == f"{config.runs_uri}/{execution_id}/evaluate/evaluation/evaluation.json"
    evaluation = json.loads(_read(s3, quality_uri))
    rmse = evaluation["regression_metrics"]["rmse"]["value"]
    assert 0 < rmse <= config.rmse_threshold

    # The package pins the digest of the model.joblib that Evaluate scored, twice, and it is the real one.
    with tarfile.open(fileobj=io.BytesIO(_read(s3, artifacts))) as tar:
        member = tar.extractfile("model.joblib")
        assert member is not None
        digest = hashlib.sha256(member.read()).hexdigest()
    assert evaluation["model"]["sha256"] == digest
    assert package["CustomerMetadataProperties"]["sagestack:model-sha256"] == digest
    assert container["Environment"]["SAGESTACK_MODEL_SHA256"] == digest
    deployed["package_arn"] = package_arn
    data_quality = package["ModelMetrics"]["ModelDataQuality"]
    assert package["DriftCheckBaselines"]["ModelDataQuality"] == data_quality
    statistics = json.loads(_read(s3, data_quality["Statistics"]["S3Uri"]))
    constraints = json.loads(_read(s3, data_quality["Constraints"]["S3Uri"]))
    assert [f["name"] for f in statistics["features"]] == FEATURES
    assert statistics["dataset"]["item_count"] > 4000  # ~80 % of 6,000 trips, less the dirty rows
    assert [f["name"] for f in constraints["features"]] == FEATURES

    # Approve, deploy from the package, and ask for predictions on held-out trips.
    sm.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
    name = f"taxi-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": package_arn})
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        state = wait_until(
            lambda: (s := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) != "Creating" and s,
            timeout=120,
            every=0.25,
        )
        assert state == "InService", sm.describe_endpoint(EndpointName=name).get("FailureReason")

        test_split = _read(s3, f"{config.runs_uri}/{execution_id}/preprocess/test/test.csv").decode()
        schema = json.loads(_read(s3, f"{config.runs_uri}/{execution_id}/preprocess/test/schema.json"))
        assert schema["features"] == FEATURES
        rows = list(csv.reader(io.StringIO(test_split)))[:50]
        actual = [float(r[0]) for r in rows]
        body = "\n".join(",".join(r[1:]) for r in rows)  # the 10 features, in schema order
        answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body=body)
        predicted = [float(v) for v in answer["Body"].read().decode().split()]
        assert len(predicted) == len(rows)
        assert all(1 <= p <= 180 for p in predicted), predicted  # minutes, within preprocess's trip limits
        mean_abs_error = sum(abs(p - a) for p, a in zip(predicted, actual, strict=True)) / len(rows)
        assert mean_abs_error < 2 * rmse, (mean_abs_error, rmse)

        def invocations() -> float:
            now = time.time()
            points = cw.get_metric_statistics(
                Namespace="AWS/SageMaker",
                MetricName="Invocations",
                Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
                StartTime=now - 3600,
                EndTime=now + 60,
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(p["Sum"] for p in points)

        assert wait_until(invocations, timeout=30, every=0.5) >= 1
    finally:
        sm.delete_endpoint(EndpointName=name)

    def gone() -> bool:
        try:
            sm.describe_endpoint(EndpointName=name)
        except ClientError:
            return True
        return False

    assert wait_until(gone, timeout=30, every=0.25)


def test_an_endpoint_refuses_an_artifact_the_registry_did_not_approve(localcloud, deployed):
    """Swap the package's model.tar.gz for a crafted one whose model.json matches its own model.joblib."""
    package_arn = deployed.get("package_arn")
    if package_arn is None:
        pytest.skip("needs the package registered by the previous test")
    s3, sm = localcloud.client("s3"), localcloud.client("sagemaker")
    [container] = sm.describe_model_package(ModelPackageName=package_arn)["InferenceSpecification"]["Containers"]
    original = _read(s3, container["ModelDataUrl"])
    crafted = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(original)) as source, tarfile.open(fileobj=crafted, mode="w:gz") as out:
        impostor = b"not the registered model"  # any bytes: it must be refused before it is unpickled
        card = json.loads(source.extractfile("model.json").read())  # type: ignore[union-attr]
        card["model_sha256"] = hashlib.sha256(impostor).hexdigest()
        for name, data in (("model.joblib", impostor), ("model.json", json.dumps(card).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    bucket, key = container["ModelDataUrl"][5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=crafted.getvalue())
    name = f"impostor-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": package_arn})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        state = wait_until(lambda: (s := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) != "Creating"
                           and s, timeout=120, every=0.25)
        assert state == "Failed"
        assert "SAGESTACK_MODEL_SHA256 pins" in sm.describe_endpoint(EndpointName=name)["FailureReason"]
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)
        sm.delete_endpoint(EndpointName=name)


def test_rmse_above_threshold_fails_through_the_fail_step(localcloud, deployed):
    config = deployed["config"]
    sm = localcloud.client("sagemaker")
    before = len(_packages(sm, config.model_package_group_name))
    arn = sm.start_pipeline_execution(
        PipelineName=config.pipeline_name,
        PipelineParameters=[*SMALL_RUN, {"Name": "RmseThreshold", "Value": "0.01"}],
    )["PipelineExecutionArn"]
    status = wait_until(lambda: _finished(sm, arn), timeout=240, every=0.5)
    steps = _steps(sm, arn)
    assert status == "Failed", {n: (s["StepStatus"], s.get("FailureReason")) for n, s in steps.items()}
    assert steps["RmseGate"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["RmseTooHigh"]["StepStatus"] == "Failed"
    assert "Register" not in steps
    message = steps["RmseTooHigh"]["Metadata"]["Fail"]["ErrorMessage"]
    assert "rmse" in message and "RmseThreshold 0.01" in message
    value = float(message.split("rmse ", 1)[1].split()[0])
    assert value > 0.01
    reason = sm.describe_pipeline_execution(PipelineExecutionArn=arn).get("FailureReason", "")
    assert message in reason
    assert len(_packages(sm, config.model_package_group_name)) == before
