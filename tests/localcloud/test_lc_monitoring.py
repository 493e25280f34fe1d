"""Model Monitor through the SageMaker API: a data-quality job definition, a one-time (NOW) schedule,
its execution as a processing job on the analyzer's contract, the report in S3 and the drift metric
in CloudWatch; a window with no captured data fails as on AWS; bad schedules are refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from lc_fixtures import ROLE, SKLEARN_IMAGE, Workspace
from support import LocalCloud, wait_until

ROOT = Path(__file__).resolve().parents[2]
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
FEATURES = ["x0", "x1", "x2"]


def _rows(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 3))
    rows[:, 0] += shift
    return rows


def _capture_line(row: np.ndarray, when: datetime, index: int) -> str:
    return json.dumps({
        "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "encoding": "CSV",
                                          "data": ",".join(f"{v:.5f}" for v in row)},
                        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "encoding": "CSV",
                                           "data": "1.0"}},
        "eventMetadata": {"eventId": f"e-{index}", "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0"})


@pytest.fixture(scope="module")
def monitored(localcloud: LocalCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An endpoint with data capture, drifted traffic captured in the current hour, a baseline, a job definition."""
    ws = Workspace(localcloud)
    name = f"mon-{ws.tag}"
    ws.sm.create_training_job(TrainingJobName=name, **ws.training(ws.uri("data/")))
    wait_until(lambda: ws.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] != "InProgress", 120)
    artifacts = ws.sm.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
    code = ws.uri("code/sourcedir.tar.gz")
    ws.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts,
        "Environment": {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": code}})
    ws.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": ws.uri("capture"),
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    ws.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60)

    # captured traffic of the last minutes, x0 shifted by 2 standard deviations
    now = datetime.now(UTC) - timedelta(seconds=30)
    lines = [_capture_line(row, now, i) for i, row in enumerate(_rows(600, seed=2, shift=2.0))]
    ws.put(f"capture/{name}/AllTraffic/{now:%Y/%m/%d/%H}/traffic.jsonl", ("\n".join(lines) + "\n").encode())

    # the baseline, by the project's own baseline job
    folder = tmp_path_factory.mktemp("baseline")
    reference = _rows(4000, seed=1)
    (folder / "train").mkdir()
    np.savetxt(folder / "train" / "train.csv", np.column_stack([reference.sum(axis=1), reference]), delimiter=",")
    (folder / "train" / "schema.json").write_text(json.dumps({"features": FEATURES}))
    subprocess.run([sys.executable, str(ROOT / "training" / "baseline.py"), "--input-dir", str(folder / "train"),
                    "--output-dir", str(folder / "out")], check=True, capture_output=True)
    for file in ("statistics.json", "constraints.json"):
        ws.put(f"baseline/{file}", (folder / "out" / file).read_bytes())
    ws.sm.create_data_quality_job_definition(
        JobDefinitionName=name, RoleArn=ROLE,
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityBaselineConfig={"ConstraintsResource": {"S3Uri": ws.uri("baseline/constraints.json")},
                                   "StatisticsResource": {"S3Uri": ws.uri("baseline/statistics.json")}},
        DataQualityJobInput={"EndpointInput": {"EndpointName": name, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": ws.uri("reports"), "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}})
    yield {"ws": ws, "name": name}
    ws.sm.delete_endpoint(EndpointName=name)


def _schedule(ws: Workspace, name: str, definition: str, start: str = "-PT1H", end: str = "-PT0H") -> None:
    ws.sm.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": start, "DataAnalysisEndTime": end},
        "MonitoringJobDefinitionName": definition, "MonitoringType": "DataQuality"})


def _finished(ws: Workspace, schedule: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = ws.sm.list_monitoring_executions(MonitoringScheduleName=schedule)["MonitoringExecutionSummaries"]
        return found[0] if found and found[0]["MonitoringExecutionStatus"] not in ("Pending", "InProgress") else None
    summary = wait_until(done, 120, 0.2)
    assert summary, "the execution did not finish"
    return summary  # type: ignore[return-value]


def test_a_now_schedule_finds_drift_reports_it_and_publishes_the_metric(localcloud: LocalCloud,
                                                                         monitored: dict[str, Any]) -> None:
    ws, name = monitored["ws"], monitored["name"]
    schedule = f"{name}-now"
    _schedule(ws, schedule, name)
    described = ws.sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)
    assert (described["MonitoringScheduleStatus"], described["EndpointName"], described["MonitoringType"]) == (
        "Scheduled", name, "DataQuality")
    summary = _finished(ws, schedule)
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations", summary.get("FailureReason", summary)
    job = ws.sm.describe_processing_job(ProcessingJobName=summary["ProcessingJobArn"].rsplit("/", 1)[-1])
    assert job["ProcessingJobName"].startswith("model-monitoring-")
    assert job["ExitMessage"].startswith("CompletedWithViolations: Job completed successfully with")
    environment = job["Environment"]
    assert (environment["sagemaker_endpoint_name"], environment["sagemaker_monitoring_schedule_name"]) == (
        name, schedule)
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert report.startswith(ws.uri(f"reports/{name}/{schedule}/"))
    bucket, _, key = report.removeprefix("s3://").partition("/")
    violations = json.loads(ws.s3.get_object(Bucket=bucket, Key=f"{key}/constraint_violations.json")["Body"].read())
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations["violations"]] == [
        ("x0", "baseline_drift_check")]
    statistics = json.loads(ws.s3.get_object(Bucket=bucket, Key=f"{key}/statistics.json")["Body"].read())
    assert statistics["dataset"]["item_count"] == 600

    cw = localcloud.client("cloudwatch")
    dims = [{"Name": "Endpoint", "Value": name}, {"Name": "MonitoringSchedule", "Value": schedule}]
    now = time.time()
    points = cw.get_metric_statistics(Namespace="aws/sagemaker/Endpoints/data-metrics",
                                      MetricName="feature_baseline_drift_x0", Dimensions=dims,
                                      StartTime=now - 7200, EndTime=now + 60, Period=3600,
                                      Statistics=["Maximum"])["Datapoints"]
    assert points and points[0]["Maximum"] > 0.1
    last = ws.sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)["LastMonitoringExecutionSummary"]
    assert last["MonitoringExecutionStatus"] == "CompletedWithViolations"


def test_a_window_without_captured_data_fails_without_a_job(monitored: dict[str, Any]) -> None:
    ws, name = monitored["ws"], monitored["name"]
    schedule = f"{name}-empty"
    _schedule(ws, schedule, name, start="-PT6H", end="-PT5H")
    summary = _finished(ws, schedule)
    assert (summary["MonitoringExecutionStatus"], summary.get("FailureReason")) == ("Failed",
                                                                                  "Job inputs had no data")
    assert "ProcessingJobArn" not in summary


def test_schedules_can_be_listed_stopped_started_and_deleted(monitored: dict[str, Any]) -> None:
    ws, name = monitored["ws"], monitored["name"]
    schedule = f"{name}-hourly"
    ws.sm.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}, "MonitoringJobDefinitionName": name,
        "MonitoringType": "DataQuality"})
    listed = ws.sm.list_monitoring_schedules(EndpointName=name)["MonitoringScheduleSummaries"]
    assert schedule in [s["MonitoringScheduleName"] for s in listed]
    ws.sm.stop_monitoring_schedule(MonitoringScheduleName=schedule)
    assert ws.sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)["MonitoringScheduleStatus"] == "Stopped"
    ws.sm.start_monitoring_schedule(MonitoringScheduleName=schedule)
    assert ws.sm.describe_monitoring_schedule(
        MonitoringScheduleName=schedule)["MonitoringScheduleStatus"] == "Scheduled"
    ws.sm.delete_monitoring_schedule(MonitoringScheduleName=schedule)
    with pytest.raises(ClientError) as gone:
        ws.sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)
    assert gone.value.response["Error"]["Code"] in ("ResourceNotFound", "ValidationException")


@pytest.mark.parametrize(("config", "words"), [
    ({"ScheduleConfig": {"ScheduleExpression": "rate(5 minutes)"}}, "Invalid ScheduleExpression"),
    ({"ScheduleConfig": {"ScheduleExpression": "cron(0 25 ? * * *)"}}, "hours 0-23"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW"}}, "needs DataAnalysisStartTime"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT0H",
                         "DataAnalysisEndTime": "-PT1H"}}, "must come before"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "yesterday",
                         "DataAnalysisEndTime": "-PT0H"}}, "Invalid analysis time offset"),
])
def test_bad_schedules_are_refused_with_the_reason(monitored: dict[str, Any], config: dict[str, Any],
                                                   words: str) -> None:
    ws, name = monitored["ws"], monitored["name"]
    with pytest.raises(ClientError) as refused:
        ws.sm.create_monitoring_schedule(MonitoringScheduleName=f"{name}-bad", MonitoringScheduleConfig={
            **config, "MonitoringJobDefinitionName": name, "MonitoringType": "DataQuality"})
    assert words in refused.value.response["Error"]["Message"]


def test_a_schedule_needs_an_existing_job_definition(monitored: dict[str, Any]) -> None:
    ws = monitored["ws"]
    with pytest.raises(ClientError) as refused:
        _schedule(ws, "orphan", "no-such-definition")
    assert "no-such-definition" in refused.value.response["Error"]["Message"]


def _quality_definition(ws: Workspace, definition: str, endpoint: str, constraints: str, truth: str,
                        column: str) -> None:
    """A model-quality job definition on `endpoint`, its reports under `<definition>-reports`."""
    ws.sm.create_model_quality_job_definition(
        JobDefinitionName=definition, RoleArn=ROLE,
        ModelQualityAppSpecification={"ImageUri": ANALYZER, "ProblemType": "Regression"},
        ModelQualityBaselineConfig={"ConstraintsResource": {"S3Uri": ws.uri(constraints)}},
        ModelQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input",
                                                "InferenceAttribute": column},
                              "GroundTruthS3Input": {"S3Uri": ws.uri(truth)}},
        ModelQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": ws.uri(f"{definition}-reports"), "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}})


def test_a_model_quality_schedule_merges_ground_truth_and_flags_decay(localcloud: LocalCloud,
                                                                      monitored: dict[str, Any]) -> None:
    """The captured predictions (all 1.0) against labels that moved away: rmse over the constraint."""
    ws, name = monitored["ws"], monitored["name"]
    now = datetime.now(UTC)
    rng = np.random.default_rng(3)
    labels = [json.dumps({"groundTruthData": {"data": f"{1.0 + 2.0 + rng.normal(0, 0.2):.4f}", "encoding": "CSV"},
                          "eventMetadata": {"eventId": f"e-{i}"}, "eventVersion": "0"}) for i in range(500)]
    labels.append(json.dumps({"groundTruthData": {"data": "5", "encoding": "CSV"},
                              "eventMetadata": {"eventId": "never-captured"}, "eventVersion": "0"}))
    ws.put(f"groundtruth/{now:%Y/%m/%d/%H}/labels.jsonl", ("\n".join(labels) + "\n").encode())
    ws.put("quality/constraints.json", json.dumps({"version": 0.0, "regression_constraints": {
        "rmse": {"threshold": 0.5, "comparison_operator": "GreaterThanThreshold"},
        "r2": {"threshold": -1000.0, "comparison_operator": "LessThanThreshold"}}}).encode())  # r2 is about -99
    definition = f"{name}-quality"
    _quality_definition(ws, definition, name, "quality/constraints.json", "groundtruth", "0")
    schedule = f"{name}-quality"
    ws.sm.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": definition, "MonitoringType": "ModelQuality"})
    summary = _finished(ws, schedule)
    assert summary["MonitoringExecutionStatus"] == "CompletedWithViolations", summary.get("FailureReason", summary)
    job = ws.sm.describe_processing_job(ProcessingJobName=summary["ProcessingJobArn"].rsplit("/", 1)[-1])
    assert job["ProcessingJobName"].startswith("model-quality-monitoring-")
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, _, key = report.removeprefix("s3://").partition("/")
    violations = json.loads(ws.s3.get_object(Bucket=bucket, Key=f"{key}/constraint_violations.json")["Body"].read())
    assert [(v["metric_name"], v["constraint_check_type"]) for v in violations["violations"]] == [
        ("rmse", "GreaterThanThreshold")]
    statistics = json.loads(ws.s3.get_object(Bucket=bucket, Key=f"{key}/statistics.json")["Body"].read())
    assert statistics["dataset"]["item_count"] == 500  # 100 predictions have no label yet; one label no prediction
    assert statistics["regression_metrics"]["rmse"]["value"] == pytest.approx(2.0, abs=0.1)
    stamp = time.time()
    points = localcloud.client("cloudwatch").get_metric_statistics(
        Namespace="aws/sagemaker/Endpoints/model-metrics", MetricName="rmse", StartTime=stamp - 7200,
        EndTime=stamp + 60, Period=3600, Statistics=["Maximum"],
        Dimensions=[{"Name": "Endpoint", "Value": name}, {"Name": "MonitoringSchedule", "Value": schedule}])
    assert points["Datapoints"] and points["Datapoints"][0]["Maximum"] == pytest.approx(2.0, abs=0.1)


def test_predictions_that_are_not_numbers_fail_the_run_saying_where_the_prediction_was_looked_for(
        monitored: dict[str, Any]) -> None:
    """Column 1 of a one-column CSV answer (or a JSON answer) is no number: the reason says which column."""
    ws, name = monitored["ws"], monitored["name"]
    now = datetime.now(UTC)
    labels = [json.dumps({"groundTruthData": {"data": "3.0", "encoding": "CSV"}, "eventMetadata": {"eventId": f"e-{i}"},
                          "eventVersion": "0"}) for i in range(50)]
    ws.put(f"groundtruth-columns/{now:%Y/%m/%d/%H}/labels.jsonl", ("\n".join(labels) + "\n").encode())
    ws.put("quality/any.json", json.dumps({"version": 0.0, "regression_constraints": {}}).encode())
    definition = f"{name}-column"
    _quality_definition(ws, definition, name, "quality/any.json", "groundtruth-columns", "1")
    ws.sm.create_monitoring_schedule(MonitoringScheduleName=definition, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": definition, "MonitoringType": "ModelQuality"})
    summary = _finished(ws, definition)
    assert summary["MonitoringExecutionStatus"] == "Failed"
    assert "50 labelled predictions, but no prediction or label is a number" in summary["FailureReason"]
    assert "column 1 of the endpoint's CSV answer" in summary["FailureReason"]
    ordered = ws.sm.list_monitoring_executions(EndpointName=name, SortBy="ScheduledTime", SortOrder="Ascending")[
        "MonitoringExecutionSummaries"]
    assert [e["ScheduledTime"] for e in ordered] == sorted(e["ScheduledTime"] for e in ordered)
    assert ordered[-1]["MonitoringScheduleName"] == definition  # the newest last when asked so
