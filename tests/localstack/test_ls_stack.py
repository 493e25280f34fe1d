"""The stack on LocalStack: the CDK app deployed with the plain CDK CLI, SageMaker in backplane mode.

LocalStack creates the buckets, key, roles, topic, queue, alarms and rules for real; its
CloudFormation creates the pipeline and the model registry in localcloud through the providers
of integrations/localstack-sagemaker. A pipeline run and an endpoint then work in backplane
mode: the jobs and the model server read and write LocalStack's S3, log to its CloudWatch Logs
and publish to its CloudWatch, and an alarm LocalStack evaluates alerts the stack's inbox.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest
from click.testing import CliRunner, Result
from localstack_support import Backplane
from support import wait_until

from infra import outputs
from sagestack.cli import cli
from sagestack.console.server import LiveSnapshot, create
from sagestack.views.collect import Collector
from training.datagen import generate_month
from training.preprocess import FEATURES

FAST = ["-p", "MaxIter=15", "-p", "MaxLeafNodes=8"]
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def sagestack(backplane: Backplane, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*backplane.cli_options, *args], env={"COLUMNS": "250"}, prog_name="sagestack")
    assert result.exit_code == 0, result.output[-4000:]
    return result


@pytest.fixture(scope="module")
def stack(backplane: Backplane) -> dict[str, str]:
    """`sagestack deploy` in backplane mode: the CDK CLI bootstraps LocalStack and deploys the app into it.

    Without the approval function: LocalStack runs Lambda functions only in Docker (and fetches its
    runtime from the network), neither of which this tier has."""
    sagestack(backplane, "deploy", "--no-approval-function")
    described = backplane.client("cloudformation").describe_stacks(StackName="SageStack-local")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def test_localstack_holds_the_stacks_resources_and_localcloud_its_sagemaker_ones(backplane: Backplane,
                                                                                stack: dict[str, str]) -> None:
    ls = backplane.localstack
    buckets = {b["Name"] for b in ls.client("s3").list_buckets()["Buckets"]}
    assert {stack[outputs.DATA_BUCKET], stack[outputs.ARTIFACTS_BUCKET], stack[outputs.CAPTURE_BUCKET]} <= buckets
    assert stack[outputs.ALERT_TOPIC_ARN] in {t["TopicArn"] for t in ls.client("sns").list_topics()["Topics"]}
    assert ls.client("sqs").get_queue_attributes(QueueUrl=stack[outputs.ALERT_QUEUE_URL], AttributeNames=["All"])
    described = ls.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = {a["AlarmName"] for a in described["MetricAlarms"] + described["CompositeAlarms"]}
    assert {"sagestack-local-endpoint-5xx", "sagestack-local-data-drift", "sagestack-local-retraining-needed"} <= alarms
    rules = {r["Name"] for r in ls.client("events").list_rules()["Rules"]}
    assert {"sagestack-local-retrain-on-alarm", "sagestack-local-model-approved"} <= rules
    assert ls.client("kms").describe_key(KeyId=stack[outputs.KEY_ARN])["KeyMetadata"]["Enabled"]

    sm = backplane.client("sagemaker")  # localcloud, created by LocalStack's CloudFormation
    assert sm.describe_pipeline(PipelineName=stack[outputs.PIPELINE_NAME])["PipelineStatus"] == "Active"
    sm.describe_model_package_group(ModelPackageGroupName=stack[outputs.MODEL_PACKAGE_GROUP])
    resources = {r["LogicalResourceId"]: r for r in ls.client("cloudformation").describe_stack_resources(
        StackName="SageStack-local")["StackResources"]}
    pipeline = next(r for r in resources.values() if r["ResourceType"] == "AWS::SageMaker::Pipeline")
    assert pipeline["PhysicalResourceId"] == stack[outputs.PIPELINE_NAME]  # Ref: the name, as on AWS


def test_a_pipeline_run_and_an_endpoint_work_against_localstacks_services(backplane: Backplane,
                                                                          stack: dict[str, str]) -> None:
    ls, sm = backplane.localstack, backplane.client("sagemaker")
    buf = io.BytesIO()
    generate_month(2024, 1, trips=1500, seed=11).to_parquet(buf, index=False)
    bucket, _, prefix = stack[outputs.INPUT_DATA_URI].removeprefix("s3://").partition("/")
    ls.client("s3").put_object(Bucket=bucket, Key=f"{prefix}2024-01.parquet", Body=buf.getvalue())
    ran = sagestack(backplane, "pipeline", "start", "--poll", "0.5", *FAST)
    assert "Succeeded" in ran.stdout
    run_id = next(line.split()[1] for line in ran.stdout.splitlines() if line.startswith("execution "))
    artifacts = ls.client("s3").list_objects_v2(Bucket=stack[outputs.ARTIFACTS_BUCKET],
                                                Prefix=f"taxi-duration/runs/{run_id}/")
    keys = [o["Key"] for o in artifacts.get("Contents", [])]
    assert any(k.endswith("model.tar.gz") for k in keys) and any(k.endswith("statistics.json") for k in keys)
    streams = ls.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]
    assert any(run_id in s["logStreamName"] for s in streams)

    sagestack(backplane, "model", "approve", "latest", "-m", "served in backplane mode")
    package = sm.describe_model_package(ModelPackageName=sm.list_model_packages(
        ModelPackageGroupName=stack[outputs.MODEL_PACKAGE_GROUP], ModelApprovalStatus="Approved")[
        "ModelPackageSummaryList"][0]["ModelPackageArn"])
    container = package["InferenceSpecification"]["Containers"][0]
    name = f"tier-{uuid.uuid4().hex[:6]}"
    sm.create_model(ModelName=name, ExecutionRoleArn=stack[outputs.MODEL_ROLE_ARN], PrimaryContainer={
        key: container[key] for key in ("Image", "ModelDataUrl", "Environment")})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{stack[outputs.CAPTURE_BUCKET]}/data-capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        assert wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "Creating", 120, 0.2)
        described = sm.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
        runtime = backplane.client("sagemaker-runtime")
        for n in range(40):
            row = ",".join([f"{1.0 + n / 10:.1f}"] + ["1"] * (len(FEATURES) - 1))
            answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv",
                                             Body=row.encode())
            assert float(answer["Body"].read()) > 0
        captured = wait_until(lambda: ls.client("s3").list_objects_v2(
            Bucket=stack[outputs.CAPTURE_BUCKET], Prefix=f"data-capture/{name}/").get("KeyCount"), 30, 0.2)
        assert captured, "no data capture in LocalStack's S3"
        dimensions = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]

        def invocations() -> float:
            now = time.time()
            points = ls.client("cloudwatch").get_metric_statistics(
                Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dimensions, StartTime=now - 600,
                EndTime=now + 60, Period=60, Statistics=["Sum"])["Datapoints"]
            return sum(p["Sum"] for p in points)

        assert wait_until(invocations, 30, 0.5), "no Invocations metric in LocalStack's CloudWatch"
        _monitor_once(backplane, stack, package, name)
        _console_pages(backplane, stack, name, run_id)
        sm.delete_monitoring_schedule(MonitoringScheduleName=name)
    finally:
        sm.delete_endpoint(EndpointName=name)


def _console_pages(backplane: Backplane, stack: dict[str, str], endpoint: str, run_id: str) -> None:
    """The console's pages read everything they show from LocalStack's services and localcloud's SageMaker."""
    names = {"stack": "SageStack-local", "target": "backplane", "pipeline": stack[outputs.PIPELINE_NAME],
             "group": stack[outputs.MODEL_PACKAGE_GROUP], "endpoint": endpoint,
             "topic": stack[outputs.ALERT_TOPIC_ARN], "queue": stack[outputs.ALERT_QUEUE_URL]}
    app = create(LiveSnapshot(Collector(backplane.client), names), None, "127.0.0.1", 8080).test_client()
    pages = {}
    for page in ("pipelines", "registry", "endpoints", "monitoring"):
        answer = app.get(f"/{page}", headers={"Host": "127.0.0.1:8080"})
        assert answer.status_code == 200
        pages[page] = answer.get_data(as_text=True)
        assert "Could not read this from AWS" not in pages[page], (page, pages[page][-3000:])
    assert run_id in pages["pipelines"] and "train_rmse=" not in pages["pipelines"]  # no log asked for
    assert "served in backplane mode" in pages["registry"] and run_id in pages["registry"]  # lineage
    assert "AllTraffic" in pages["endpoints"] and "Recent requests" in pages["endpoints"]
    assert "4.9,1,1" in pages["endpoints"]  # the last captured request, read from LocalStack's S3
    monitoring = pages["monitoring"]
    assert f"{endpoint} <span class=\"muted\">(DataQuality" in monitoring  # the schedule, with its drift charts
    assert '<div class="chart" id="monitor-0-series">' in monitoring and 'id="monitor-0-feature-0"' in monitoring
    assert "sagestack-local-endpoint-5xx" in monitoring  # the stack's alarms, as LocalStack holds them


def _monitor_once(backplane: Backplane, stack: dict[str, str], package: dict[str, Any], endpoint: str) -> None:
    """A data-quality run over the endpoint's traffic, on the package's baseline: its report lands in
    LocalStack's S3 and its drift metrics in LocalStack's CloudWatch."""
    sm, ls = backplane.client("sagemaker"), backplane.localstack
    baseline = package["DriftCheckBaselines"]["ModelDataQuality"]
    reports = f"s3://{stack[outputs.CAPTURE_BUCKET]}/tier-monitoring"
    sm.create_data_quality_job_definition(
        JobDefinitionName=endpoint, RoleArn=stack[outputs.MODEL_ROLE_ARN],
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityBaselineConfig={"ConstraintsResource": {"S3Uri": baseline["Constraints"]["S3Uri"]},
                                   "StatisticsResource": {"S3Uri": baseline["Statistics"]["S3Uri"]}},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": reports, "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}})
    sm.create_monitoring_schedule(MonitoringScheduleName=endpoint, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": endpoint, "MonitoringType": "DataQuality"})

    def finished() -> dict[str, Any] | None:
        runs = sm.list_monitoring_executions(MonitoringScheduleName=endpoint)["MonitoringExecutionSummaries"]
        return runs[0] if runs and runs[0]["MonitoringExecutionStatus"] not in ("Pending", "InProgress") else None

    execution = wait_until(finished, 120, 0.5)
    assert execution and execution["MonitoringExecutionStatus"].startswith("Completed"), execution
    bucket, _, prefix = reports.removeprefix("s3://").partition("/")
    keys = [o["Key"] for o in ls.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert any(k.endswith("statistics.json") for k in keys), keys
    metrics = ls.client("cloudwatch").list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics", Dimensions=[
        {"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": endpoint}])["Metrics"]
    assert {f"feature_baseline_drift_{f}" for f in FEATURES} <= {m["MetricName"] for m in metrics}


def test_an_alarm_localstack_evaluates_alerts_the_stacks_inbox(backplane: Backplane, stack: dict[str, str]) -> None:
    """LocalStack's evaluator fires a 10-second alarm on the stack's alert topic; `sagestack alerts` shows it."""
    cw = backplane.localstack.client("cloudwatch")
    name, namespace = f"tier-errors-{uuid.uuid4().hex[:6]}", "Tier/Alerts"
    cw.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="Errors", Statistic="Sum", Period=10,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[stack[outputs.ALERT_TOPIC_ARN]])
    cw.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Errors", "Value": 3.0}])
    seen: list[str] = []

    def alerted() -> bool:
        seen.append(sagestack(backplane, "alerts").stdout)  # each read acknowledges what it shows
        return any(f"ALARM {name}" in text for text in seen)

    assert wait_until(alerted, 90, 1.0), seen
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM"
    message = next(line for text in seen for line in text.splitlines() if f"ALARM {name}" in line)
    assert "(was " in message and "Threshold Crossed" in message
    json.dumps(message)  # one printable line
