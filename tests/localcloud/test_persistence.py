"""localcloud with a data dir survives restarts: a graceful stop loses nothing, a kill -9 loses at most
the last snapshot interval and corrupts nothing, and a damaged snapshot is refused and kept."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from lc_fixtures import ROLE, SKLEARN_IMAGE, Workspace
from support import LocalCloud, wait_until

from localcloud import launcher, persistence
from localcloud.launcher import LaunchError

pytestmark = pytest.mark.localcloud

TEMPLATE = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "kept-queue"}}},
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}}}


UNSETTLED = ("InProgress", "Executing", "Stopping", "Creating", "SystemUpdating", "Updating")


def _finished(describe: Any, key: str, timeout: float = 120) -> str:
    def settled() -> str | None:
        status = describe()[key]
        return None if status in UNSETTLED or status.endswith("_IN_PROGRESS") else status

    status = wait_until(settled, timeout, 0.1)
    assert status, f"{key} did not settle: {describe()}"
    return str(status)


def _predict(cloud: LocalCloud, endpoint: str) -> list[float]:
    out = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=b"1.0,0.0,0.0\n0.0,1.0,2.0")
    return [float(v) for v in out["Body"].read().decode().split()]


def _pipeline(ws: Workspace, group: str) -> dict[str, Any]:
    train = {"Name": "Train", "Type": "Training", "Arguments": ws.training(ws.uri("data/")),
             "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"}}
    register = {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {"Containers": [{
            "Image": SKLEARN_IMAGE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}}
    return {"Version": "2020-12-01", "Steps": [train, register]}


def test_everything_is_back_after_a_graceful_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalCloud.start(data, log_path=tmp_path / "first.log") as cloud:
        ws = Workspace(cloud)
        sm = ws.sm
        group = f"g-{ws.tag}"
        sm.create_model_package_group(ModelPackageGroupName=group)
        sm.create_pipeline(PipelineName="kept", RoleArn=ROLE, PipelineDefinition=json.dumps(_pipeline(ws, group)))
        execution = sm.start_pipeline_execution(PipelineName="kept")["PipelineExecutionArn"]
        assert _finished(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=execution),
                         "PipelineExecutionStatus") == "Succeeded"
        steps_before = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)["PipelineExecutionSteps"]
        package = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"][0]
        artifacts = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])[
            "InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts, "Environment": {
            "SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/sourcedir.tar.gz")}}
        sm.create_model(ModelName="kept-model", ExecutionRoleArn=ROLE, PrimaryContainer=container)
        sm.create_endpoint_config(EndpointConfigName="kept-config", ProductionVariants=[{
            "VariantName": "All", "ModelName": "kept-model", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="kept", EndpointConfigName="kept-config")
        assert _finished(lambda: sm.describe_endpoint(EndpointName="kept"), "EndpointStatus") == "InService"
        predictions = _predict(cloud, "kept")

        cloud.client("iam").create_role(RoleName="kept-role", AssumeRolePolicyDocument="{}")
        cloud.client("iam").attach_role_policy(RoleName="kept-role",
                                               PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
        queue = cloud.client("sqs").create_queue(QueueName="alerts")["QueueUrl"]
        topic = cloud.client("sns").create_topic(Name="alerts")["TopicArn"]
        cloud.client("sns").subscribe(TopicArn=topic, Protocol="sqs",
                                      Endpoint="arn:aws:sqs:us-east-1:123456789012:alerts")
        kms = cloud.client("kms")
        key = kms.create_key(Description="kept")["KeyMetadata"]["KeyId"]
        secret = kms.encrypt(KeyId=key, Plaintext=b"model registry token")["CiphertextBlob"]
        signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        signature = kms.sign(KeyId=signing, Message=b"model.tar.gz digest",
                             SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        ssm = cloud.client("ssm")
        ssm.put_parameter(Name="/kept/bootstrap-version", Value="21", Type="String")
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/kept/bootstrap-version",
                                 Tags=[{"Key": "team", "Value": "ml"}])
        cloud.client("events").put_rule(Name="kept-rule", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
        cloud.client("cloudwatch").put_metric_alarm(
            AlarmName="kept-alarm", Namespace="Kept", MetricName="Errors", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
        cloud.client("cloudwatch").put_metric_data(Namespace="Kept", MetricData=[{"MetricName": "Errors", "Value": 2}])
        cloudformation = cloud.client("cloudformation")
        cloudformation.create_stack(StackName="kept-stack", TemplateBody=json.dumps(TEMPLATE))
        assert _finished(lambda: cloudformation.describe_stacks(StackName="kept-stack")["Stacks"][0],
                         "StackStatus") == "CREATE_COMPLETE"
        outputs = cloudformation.describe_stacks(StackName="kept-stack")["Stacks"][0]["Outputs"]
        assert cloud.stop()  # SIGTERM: a graceful stop

    with LocalCloud.start(data, log_path=tmp_path / "second.log") as cloud:
        sm = cloud.client("sagemaker")
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=ws.bucket, Key="code/prep.py")["Body"].read().startswith(b"\nimport glob")
        assert sm.describe_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionStatus"] == "Succeeded"
        assert sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)["PipelineExecutionSteps"] == \
            steps_before
        assert sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])["ModelApprovalStatus"] == \
            "Approved"
        assert _finished(lambda: sm.describe_endpoint(EndpointName="kept"), "EndpointStatus") == "InService"
        assert _predict(cloud, "kept") == predictions

        again = sm.start_pipeline_execution(PipelineName="kept")["PipelineExecutionArn"]
        assert _finished(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=again),
                         "PipelineExecutionStatus") == "Succeeded"
        train = next(s for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=again)[
            "PipelineExecutionSteps"] if s["StepName"] == "Train")
        assert train["CacheHitResult"] == {"SourcePipelineExecutionArn": execution}  # the step cache came back

        iam = cloud.client("iam")
        assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="kept-role")[
            "AttachedPolicies"]] == ["AmazonSageMakerFullAccess"]
        assert iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")  # AWS's policies are all there
        sns = cloud.client("sns")
        assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [
            "arn:aws:sqs:us-east-1:123456789012:alerts"]
        sns.publish(TopicArn=topic, Message="after the restart")
        sqs = cloud.client("sqs")
        message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]
        assert json.loads(message["Body"])["Message"] == "after the restart"
        assert cloud.client("events").describe_rule(Name="kept-rule")["EventPattern"]
        kms = cloud.client("kms")
        assert kms.decrypt(CiphertextBlob=secret)["Plaintext"] == b"model registry token"
        assert kms.verify(KeyId=signing, Message=b"model.tar.gz digest", Signature=signature,
                          SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"]
        ssm = cloud.client("ssm")
        assert ssm.get_parameter(Name="/kept/bootstrap-version")["Parameter"]["Value"] == "21"
        assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/kept/bootstrap-version")[
            "TagList"] == [{"Key": "team", "Value": "ml"}]
        cloudwatch = cloud.client("cloudwatch")
        assert cloudwatch.describe_alarms(AlarmNames=["kept-alarm"])["MetricAlarms"][0]["Threshold"] == 1
        assert {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Kept")["Metrics"]} == {"Errors"}
        logs = cloud.client("logs")
        assert logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]
        stack = cloud.client("cloudformation").describe_stacks(StackName="kept-stack")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert stack["Outputs"] == outputs
        assert sqs.get_queue_url(QueueName="kept-queue")["QueueUrl"].endswith("/123456789012/kept-queue")


def test_a_kill_in_the_middle_of_a_busy_run_loses_little_and_corrupts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cloud = LocalCloud.start(data, log_path=tmp_path / "first.log", args=["--snapshot-interval", "0.2"])
    try:
        ws = Workspace(cloud)
        slow = {"Name": "Slow", "Type": "Processing", "Arguments": ws.processing(
            ["python3", "-c", "import time; print('working', flush=True); time.sleep(600)"], [], [])}
        ws.sm.create_pipeline(PipelineName="busy", RoleArn=ROLE,
                              PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": [slow]}))
        execution = ws.sm.start_pipeline_execution(PipelineName="busy")["PipelineExecutionArn"]
        assert wait_until(lambda: ws.sm.list_processing_jobs(StatusEquals="InProgress")["ProcessingJobSummaries"],
                          30)
        written: list[str] = []
        stop = threading.Event()

        def writer() -> None:  # S3 keeps changing while the snapshot is written and the server killed
            s3 = cloud.client("s3")
            while not stop.is_set():
                key = f"burst/{len(written):05d}"
                try:
                    s3.put_object(Bucket=ws.bucket, Key=key, Body=key.encode() * 100)
                except Exception:
                    return
                written.append(key)

        thread = threading.Thread(target=writer)
        thread.start()
        snapshot = data / "state" / "snapshot"
        assert wait_until(lambda: len(written) > 200, 60)
        seen = snapshot.stat().st_mtime_ns
        assert wait_until(lambda: snapshot.stat().st_mtime_ns != seen, 10)  # a snapshot after the job started
        os.kill(cloud.pid, signal.SIGKILL)
        stop.set()
        thread.join()
        cloud.process.wait()
    finally:
        cloud.stop()

    with LocalCloud.start(data, log_path=tmp_path / "second.log") as cloud:
        sm, s3 = cloud.client("sagemaker"), cloud.client("s3")
        described = sm.describe_pipeline_execution(PipelineExecutionArn=execution)
        assert described["PipelineExecutionStatus"] == "Failed"
        assert described["FailureReason"] == "localcloud restarted while this was running"
        [step] = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)["PipelineExecutionSteps"]
        assert (step["StepStatus"], step["FailureReason"]) == ("Failed", "localcloud restarted while this was running")
        job = sm.describe_processing_job(ProcessingJobName=step["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1])
        assert (job["ProcessingJobStatus"], job["FailureReason"]) == (
            "Failed", "localcloud restarted while this was running")
        kept = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ws.bucket, Prefix="burst/")
                for o in page.get("Contents", [])]
        assert kept == written[:len(kept)] and len(kept) > 0  # a prefix of what was written: nothing torn
        for key in (kept[0], kept[-1]):
            assert s3.get_object(Bucket=ws.bucket, Key=key)["Body"].read() == key.encode() * 100
        assert sm.list_pipelines()["PipelineSummaries"][0]["PipelineName"] == "busy"
        retried = sm.retry_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionArn"]
        assert retried == execution

        def attempts() -> list[int]:
            steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)["PipelineExecutionSteps"]
            return [s["AttemptCount"] for s in steps]

        assert attempts() in ([1], [2])  # listed throughout: the last attempt's row until the next starts
        assert wait_until(lambda: attempts() == [2], 10)


def test_a_damaged_snapshot_is_refused_with_a_reason_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalCloud.start(data, log_path=tmp_path / "first.log") as cloud:
        cloud.client("s3").create_bucket(Bucket="precious")
    snapshot = data / "state" / "snapshot"
    damaged = bytearray(snapshot.read_bytes())
    damaged[-10] ^= 0xFF
    snapshot.write_bytes(bytes(damaged))
    with pytest.raises(LaunchError) as caught:
        LocalCloud.start(data, log_path=tmp_path / "second.log", timeout=30)
    assert "contents do not match its checksum (the file is damaged)" in str(caught.value)
    assert "The file is left as it is" in str(caught.value)
    assert snapshot.read_bytes() == bytes(damaged)


def _snapshot_of(tmp_path: Path, header: dict[str, Any] | None = None, payload: bytes = b"x") -> Path:
    path = tmp_path / "snapshot"
    persistence.write_snapshot(path, payload)
    if header is not None:
        magic, line, rest = path.read_bytes().split(b"\n", 2)
        path.write_bytes(b"\n".join([magic, json.dumps({**json.loads(line), **header}).encode(), rest]))
    return path


@pytest.mark.parametrize(("header", "message"), [
    ({"format": 999}, "written by an incompatible version (format 999; this localcloud has format 1)"),
    ({"moto": "4.0.0"}, "written by an incompatible version (moto 4.0.0; this localcloud has moto"),
    ({"sha256": "0" * 64}, "contents do not match its checksum"),
])
def test_an_incompatible_or_damaged_snapshot_is_never_loaded(tmp_path: Path, header: dict[str, Any],
                                                             message: str) -> None:
    path = _snapshot_of(tmp_path, header)
    before = path.read_bytes()
    with pytest.raises(persistence.SnapshotError) as caught:
        persistence.read_snapshot(path)
    assert message in str(caught.value) and "move it away to start with an empty state" in str(caught.value)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_snapshot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshot"
    path.write_text("hello")
    with pytest.raises(persistence.SnapshotError, match="it is not a localcloud snapshot"):
        persistence.read_snapshot(path)


def test_writing_replaces_the_old_snapshot_only_when_the_new_one_is_whole(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = _snapshot_of(tmp_path, payload=b"old state")
    before = path.read_bytes()

    def fail(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        persistence.write_snapshot(path, b"new state")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot"]  # no temporary file left behind


def test_the_state_can_be_saved_on_request_and_health_says_how_it_went(tmp_path: Path) -> None:
    with LocalCloud.start(tmp_path / "data", log_path=tmp_path / "lc.log") as cloud:
        cloud.client("s3").create_bucket(Bucket="saved-now")
        saved = cloud.snapshot()
        snapshot = tmp_path / "data" / "state" / "snapshot"
        assert saved["snapshot"] == str(snapshot) and saved["bytes"] > 0 and snapshot.exists()
        status = launcher.health(cloud.url)["persistence"]
        assert status["error"] is None and status["saved_at"] > 0 and status["snapshot"] == str(snapshot)
    with LocalCloud.start(log_path=tmp_path / "ephemeral.log") as cloud:
        assert launcher.health(cloud.url)["persistence"] is None
        with pytest.raises(RuntimeError, match="runs without --data-dir: it keeps no state to save"):
            cloud.snapshot()
