"""`sagestack monitor`: the endpoint's schedules, their last executions, metric values and the stack's alarms."""

from __future__ import annotations

import time
import uuid

from cli_support import Stack, invoke
from support import LocalCloud, wait_until

ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def test_monitor_shows_schedules_executions_metrics_and_alarms(localcloud: LocalCloud, stack: Stack) -> None:
    sm, cw = localcloud.client("sagemaker"), localcloud.client("cloudwatch")
    endpoint, tag = stack["EndpointName"], uuid.uuid4().hex[:6]
    bare = invoke([*stack.options, "monitor"])
    assert bare.exit_code == 0, bare.output
    assert "alarms" in bare.stdout and "-data-drift" in bare.stdout  # the stack's alarms, whatever else exists

    sm.create_data_quality_job_definition(
        JobDefinitionName=f"cli-{tag}", RoleArn=stack["ModelRoleArn"],
        DataQualityAppSpecification={"ImageUri": ANALYZER},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{stack['CaptureBucket']}/cli-{tag}", "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}})
    schedule = f"cli-{tag}"
    sm.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": f"cli-{tag}", "MonitoringType": "DataQuality"})
    assert wait_until(lambda: sm.list_monitoring_executions(MonitoringScheduleName=schedule)[
        "MonitoringExecutionSummaries"], 20, 0.2)
    cw.put_metric_data(Namespace="aws/sagemaker/Endpoints/data-metrics", MetricData=[{
        "MetricName": "feature_baseline_drift_trip_distance", "Value": 0.4321, "Timestamp": time.time(),
        "Dimensions": [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]}])

    shown = invoke([*stack.options, "monitor"])
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if line.startswith(schedule))
    assert "DataQuality" in row and "Scheduled" in row and "Failed" in row  # no capture yet: no data
    assert "captures no data" in shown.stdout or "had no data" in shown.stdout
    drift = next(line for line in shown.stdout.splitlines() if line.strip().startswith("trip_distance"))
    assert "0.4321" in drift
    sm.delete_monitoring_schedule(MonitoringScheduleName=schedule)
