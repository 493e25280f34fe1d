"""Endpoints serve real predictions through sagemaker-runtime, with metrics and capture."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import ROLE, SKLEARN_1_2_IMAGE, SKLEARN_IMAGE, Workspace, tarball
from support import LocalCloud, wait_until


def _wait_status(sm: Any, endpoint: str, timeout: float = 60) -> str:
    status = wait_until(lambda: (lambda s: s if s != "Creating" else None)(
        sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]), timeout, 0.1)
    assert status, "endpoint stayed Creating"
    return str(status)


def _model_artifacts(ws: Workspace) -> str:
    """Train the linear model with a real training job; return its model.tar.gz URI."""
    name = f"train-{ws.tag}"
    ws.sm.create_training_job(TrainingJobName=name, **ws.training(ws.uri("data/")))
    status = wait_until(lambda: (lambda s: s if s not in ("InProgress", "Stopping") else None)(
        ws.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]), 120, 0.2)
    described = ws.sm.describe_training_job(TrainingJobName=name)
    assert status == "Completed", described.get("FailureReason")
    return described["ModelArtifacts"]["S3ModelArtifacts"]


@pytest.fixture(scope="module")
def served(localcloud: LocalCloud) -> Iterator[tuple[Workspace, str]]:
    """One endpoint with two variants of the same model, capture on."""
    ws = Workspace(localcloud)
    artifacts = _model_artifacts(ws)
    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts,
                 "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                                 "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}
    ws.sm.create_model(ModelName=f"m-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    ws.sm.create_endpoint_config(
        EndpointConfigName=f"ec-{ws.tag}",
        ProductionVariants=[{"VariantName": v, "ModelName": f"m-{ws.tag}", "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": 1, "InitialVariantWeight": w}
                            for v, w in (("Blue", 1.0), ("Green", 1.0))],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": ws.uri("capture"),
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    endpoint = f"ep-{ws.tag}"
    ws.sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"ec-{ws.tag}")
    assert ws.sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating"
    assert _wait_status(ws.sm, endpoint) == "InService", ws.sm.describe_endpoint(EndpointName=endpoint)
    yield ws, endpoint
    ws.sm.delete_endpoint(EndpointName=endpoint)


def test_csv_and_json_predictions_are_real(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    rt = localcloud.client("sagemaker-runtime")
    out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv",
                             Body=b"1.0,0.0,0.0\n0.0,1.0,2.0")
    values = [float(v) for v in out["Body"].read().decode().split()]
    assert values == pytest.approx([5.0, 3.0], abs=1e-4)  # y = 2a - b + c/2 + 3
    assert out["ContentType"].startswith("text/csv")
    assert out["InvokedProductionVariant"] in ("Blue", "Green")
    js = rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Accept="application/json",
                            Body=json.dumps([[0.0, 0.0, 0.0]]))
    assert json.loads(js["Body"].read()) == pytest.approx([3.0], abs=1e-4)


def test_target_variant_and_weights_route(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    rt = localcloud.client("sagemaker-runtime")
    for variant in ("Blue", "Green"):
        out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3", TargetVariant=variant)
        assert out["InvokedProductionVariant"] == variant
    seen = {rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3")[
        "InvokedProductionVariant"] for _ in range(40)}
    assert seen == {"Blue", "Green"}  # equal weights: 40 draws miss one with probability 2**-39
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3", TargetVariant="Red")
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_bad_input_is_a_model_error_with_the_original_status(localcloud: LocalCloud,
                                                               served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    rt = localcloud.client("sagemaker-runtime")
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,not-a-number,3",
                           TargetVariant="Blue")
    error = e.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert 400 <= error["OriginalStatusCode"] < 500
    out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"0,0,0", TargetVariant="Blue")
    assert json.loads(out["Body"].read()) == pytest.approx([3.0], abs=1e-4)  # the server survived


def test_invocation_metrics_reach_cloudwatch(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    rt, cw = localcloud.client("sagemaker-runtime"), localcloud.client("cloudwatch")
    for _ in range(3):
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3", TargetVariant="Green")
    with pytest.raises(ClientError):
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"x", TargetVariant="Green")

    def stat(metric: str, statistic: str) -> float:
        now = time.time()
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, StartTime=now - 3600, EndTime=now + 60, Period=60,
            Statistics=[statistic], Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                                {"Name": "VariantName", "Value": "Green"}])["Datapoints"]
        return sum(p[statistic] for p in points)

    assert wait_until(lambda: stat("Invocations", "Sum") >= 4, 15, 0.25), stat("Invocations", "Sum")
    assert wait_until(lambda: stat("Invocation4XXErrors", "Sum") >= 1, 15, 0.25)
    assert stat("Invocation5XXErrors", "Sum") == 0
    assert stat("ModelLatency", "Maximum") > 0
    assert stat("OverheadLatency", "SampleCount") >= 4


def test_data_capture_lines_follow_sagemakers_format(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    ws, endpoint = served
    rt = localcloud.client("sagemaker-runtime")
    rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"9,8,7", TargetVariant="Blue")

    def lines() -> list[dict]:
        found = []
        for obj in ws.s3.list_objects_v2(Bucket=ws.bucket, Prefix=f"capture/{endpoint}/Blue/").get("Contents", []):
            body = ws.s3.get_object(Bucket=ws.bucket, Key=obj["Key"])["Body"].read().decode()
            found += [json.loads(line) for line in body.splitlines() if "9,8,7" in line]
        return found

    captured = wait_until(lines, 15, 0.25)
    assert captured, "no capture line for the request"
    line = captured[0]
    assert line["eventVersion"] == "0"
    assert line["captureData"]["endpointInput"] == {"observedContentType": "text/csv", "mode": "INPUT",
                                                     "data": "9,8,7", "encoding": "CSV"}
    output = line["captureData"]["endpointOutput"]
    assert output["mode"] == "OUTPUT" and output["encoding"] == "JSON"  # no Accept: the JSON default
    assert json.loads(output["data"]) == pytest.approx([2 * 9 - 8 + 3.5 + 3], abs=1e-4)
    assert set(line["eventMetadata"]) >= {"eventId", "inferenceTime"}


def test_missing_endpoint_is_a_validation_error(localcloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as e:
        localcloud.client("sagemaker-runtime").invoke_endpoint(EndpointName="nowhere", ContentType="text/csv",
                                                               Body=b"1")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "nowhere" in e.value.response["Error"]["Message"]


def _endpoint_for(ws: Workspace, name: str, container: dict[str, Any]) -> str:
    ws.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    ws.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    ws.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return _wait_status(ws.sm, name)


def test_model_that_cannot_load_fails_the_endpoint(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    ws, _ = served
    name = f"broken-{ws.tag}"
    status = _endpoint_for(ws, name, {"Image": SKLEARN_IMAGE, "ModelDataUrl": _model_artifacts_uri(ws),
                                      "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                                      "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/broken.tar.gz")}})
    assert status == "Failed"
    assert "cannot load model 3c9e" in ws.sm.describe_endpoint(EndpointName=name)["FailureReason"]
    with pytest.raises(ClientError) as e:
        localcloud.client("sagemaker-runtime").invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1")
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_unsupported_image_fails_the_endpoint(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    ws, _ = served
    name = f"custom-{ws.tag}"
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/custom:1"
    assert _endpoint_for(ws, name, {"Image": image, "ModelDataUrl": _model_artifacts_uri(ws)}) == "Failed"
    assert image in ws.sm.describe_endpoint(EndpointName=name)["FailureReason"]


def test_deleted_endpoint_stops_answering(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    ws, _ = served
    name = f"short-{ws.tag}"
    assert _endpoint_for(ws, name, {"Image": SKLEARN_IMAGE, "ModelDataUrl": _model_artifacts_uri(ws),
                                    "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                                                    "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}
                         ) == "InService"
    rt = localcloud.client("sagemaker-runtime")
    rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3")
    ws.sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3")
    assert e.value.response["Error"]["Code"] == "ValidationError"


def _model_artifacts_uri(ws: Workspace) -> str:
    jobs = ws.sm.list_training_jobs(NameContains=f"train-{ws.tag}")["TrainingJobSummaries"]
    return ws.sm.describe_training_job(TrainingJobName=jobs[0]["TrainingJobName"])["ModelArtifacts"][
        "S3ModelArtifacts"]


def test_model_server_logs_reach_cloudwatch_logs(localcloud: LocalCloud, served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    logs = localcloud.client("logs")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"

    def messages() -> list[str]:
        try:
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for s in streams
                for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]]

    assert wait_until(messages, 15, 0.25), "no model server log lines in CloudWatch Logs"
    assert {s["logStreamName"].split("/")[0] for s in logs.describe_log_streams(logGroupName=group)[
        "logStreams"]} == {"Blue", "Green"}


def test_update_endpoint_swaps_fleets_and_keeps_serving_on_failure(localcloud: LocalCloud,
                                                                    served: tuple[Workspace, str]) -> None:
    ws, _ = served
    name = f"upd-{ws.tag}"
    serving = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}
    assert _endpoint_for(ws, name, {"Image": SKLEARN_IMAGE, "ModelDataUrl": _model_artifacts_uri(ws),
                                    "Environment": serving}) == "InService"
    rt = localcloud.client("sagemaker-runtime")

    def predict() -> float:
        out = rt.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body=b"0,0,0")
        return float(out["Body"].read())

    assert predict() == pytest.approx(3.0, abs=1e-4)
    # v2: the same model behind a program that doubles every prediction
    doubled = b"import joblib, os\nclass Twice:\n    def __init__(self, m): self.m = m\n" \
              b"    def predict(self, X): return 2 * self.m.predict(X)\n" \
              b"def model_fn(d): return Twice(joblib.load(os.path.join(d, 'model.joblib')))\n"
    ws.put("code/doubled.tar.gz", tarball({"doubled.py": doubled}))
    ws.sm.create_model(ModelName=f"{name}-v2", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": _model_artifacts_uri(ws),
        "Environment": {"SAGEMAKER_PROGRAM": "doubled.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/doubled.tar.gz")}})
    ws.sm.create_endpoint_config(EndpointConfigName=f"{name}-v2", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{name}-v2", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v2")
    assert ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
    assert predict() == pytest.approx(3.0, abs=1e-4)  # the old fleet serves while the new one starts
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60, 0.1)
    assert predict() == pytest.approx(6.0, abs=1e-4)
    assert ws.sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == f"{name}-v2"

    # v3 cannot load: the update fails, v2 keeps serving, the reason is reported
    ws.sm.create_model(ModelName=f"{name}-v3", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": _model_artifacts_uri(ws),
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/broken.tar.gz")}})
    ws.sm.create_endpoint_config(EndpointConfigName=f"{name}-v3", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"{name}-v3", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    ws.sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v3")
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60, 0.1)
    described = ws.sm.describe_endpoint(EndpointName=name)
    assert "cannot load model 3c9e" in described["FailureReason"]
    assert described["EndpointConfigName"] == f"{name}-v2"
    assert predict() == pytest.approx(6.0, abs=1e-4)
    ws.sm.delete_endpoint(EndpointName=name)


def test_a_payload_over_6_mb_is_refused_and_the_endpoint_keeps_serving(localcloud: LocalCloud,
                                                                        served: tuple[Workspace, str]) -> None:
    _, endpoint = served
    rt = localcloud.client("sagemaker-runtime")
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2,3\n" * (1024 * 1024 + 1))
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "6 MB" in e.value.response["Error"]["Message"]
    out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=b"0,0,0")
    assert float(out["Body"].read()) == pytest.approx(3.0, abs=1e-4)


def test_a_model_pickled_by_an_older_image_is_served_by_that_image(localcloud: LocalCloud) -> None:
    """Trained on the 1.2-1 runtime (scikit-learn 1.2.1, Python 3.9), loaded and served by the same runtime."""
    ws = Workspace(localcloud)
    name = f"old-{ws.tag}"
    ws.sm.create_training_job(TrainingJobName=name, **ws.training(ws.uri("data/"), image=SKLEARN_1_2_IMAGE))
    status = wait_until(lambda: (lambda s: s if s not in ("InProgress", "Stopping") else None)(
        ws.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]), 120, 0.2)
    described = ws.sm.describe_training_job(TrainingJobName=name)
    assert status == "Completed", described.get("FailureReason")
    container = {"Image": SKLEARN_1_2_IMAGE, "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"],
                 "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                                 "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}
    assert _endpoint_for(ws, name, container) == "InService", ws.sm.describe_endpoint(EndpointName=name)
    body = localcloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Accept="application/json", Body=b"1,0,0\n0,1,2")["Body"].read()
    assert [round(v, 4) for v in json.loads(body)] == [5.0, 3.0]  # y = 2 x0 - x1 + 0.5 x2 + 3, learnt exactly
    logs = localcloud.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{name}",
                                    filterPattern='"runs on the local"')["events"]
    assert events, "the model server's log says which runtime serves the model"
    assert "sagemaker-scikit-learn:1.2-1 runtime" in events[0]["message"]
    assert "Python 3.9." in events[0]["message"] and "scikit-learn 1.2.1" in events[0]["message"]
    ws.sm.delete_endpoint(EndpointName=name)
