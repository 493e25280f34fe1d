"""The server itself: health, routing, moto's reset, and clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import ROLE, SKLEARN_IMAGE, Workspace, tarball
from support import LocalCloud, processes_under, wait_until

pytestmark = pytest.mark.localcloud  # starts its own server


def test_health_reports_ready_with_services(localcloud: LocalCloud) -> None:
    with urllib.request.urlopen(f"{localcloud.url}/_localcloud/health") as r:
        body = json.loads(r.read())
    assert r.status == 200
    assert body["status"] == "ready"
    assert {"s3", "sagemaker", "sagemaker-runtime", "cloudwatch", "events"} <= set(body["services"])


def test_unknown_localcloud_path_is_404(localcloud: LocalCloud) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{localcloud.url}/_localcloud/nope")
    assert e.value.code == 404


def test_moto_services_answer(localcloud: LocalCloud) -> None:
    sqs = localcloud.client("sqs")
    url = sqs.create_queue(QueueName="server-test")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"
    assert localcloud.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_s3_operations_whose_input_is_an_xml_body_pass_the_api_checks(localcloud: LocalCloud) -> None:
    """The XML body is moto's to read: a required member inside it is not "missing" to the checks."""
    s3 = localcloud.client("s3")
    s3.create_bucket(Bucket="xml-bodies")
    s3.put_object(Bucket="xml-bodies", Key="a", Body=b"1")
    s3.put_bucket_versioning(Bucket="xml-bodies", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="xml-bodies", Key="a", Body=b"2")
    versions = s3.list_object_versions(Bucket="xml-bodies")["Versions"]
    deleted = s3.delete_objects(Bucket="xml-bodies", Delete={
        "Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})["Deleted"]
    assert len(deleted) == 2 and "Versions" not in s3.list_object_versions(Bucket="xml-bodies")
    s3.put_bucket_lifecycle_configuration(Bucket="xml-bodies", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 3}}]})
    assert s3.get_bucket_lifecycle_configuration(Bucket="xml-bodies")["Rules"][0]["Expiration"]["Days"] == 3
    s3.delete_bucket(Bucket="xml-bodies")


@pytest.mark.parametrize("key", ["x#y", "a/b%2Fc", "q?r=1", "sp ace+plus"])
def test_s3_keys_with_reserved_characters_work_in_every_kind_of_request(localcloud: LocalCloud, key: str) -> None:
    """moto reads the path as sent (RAW_URI): a decoded `#` or `?` would cut the key and lose the query."""
    s3 = localcloud.client("s3")
    bucket = "reserved-characters"
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"part"
    with pytest.raises(ClientError) as caught:  # an AWS answer about the object, not an internal failure
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
    assert caught.value.response["Error"]["Code"] == "InvalidObjectState"
    s3.delete_object(Bucket=bucket, Key=key)


def test_reset_stops_running_jobs_executions_and_endpoints_and_wipes_state(localcloud: LocalCloud) -> None:
    ws = Workspace(localcloud)
    request = ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])
    ws.sm.create_processing_job(ProcessingJobName=f"sleeper-{ws.tag}", **request)
    ws.sm.create_pipeline(PipelineName=f"p-{ws.tag}", RoleArn=ROLE, PipelineDefinition=json.dumps({
        "Version": "2020-12-01", "Steps": [{"Name": "Sleep", "Type": "Processing", "Arguments": request}]}))
    ws.sm.start_pipeline_execution(PipelineName=f"p-{ws.tag}")
    artifacts = ws.put("model/model.tar.gz", tarball({"model.joblib": b"unused"}))
    ws.put("code/noop.tar.gz", tarball({"noop.py": b"def model_fn(model_dir):\n    return object()\n"}))
    ws.sm.create_model(ModelName=f"m-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts,
        "Environment": {"SAGEMAKER_PROGRAM": "noop.py", "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/noop.tar.gz")}})
    ws.sm.create_endpoint_config(EndpointConfigName=f"ec-{ws.tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"m-{ws.tag}", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    ws.sm.create_endpoint(EndpointName=f"ep-{ws.tag}", EndpointConfigName=f"ec-{ws.tag}")
    jobs, endpoints = localcloud.data_dir / "jobs", localcloud.data_dir / "endpoints" / f"ep-{ws.tag}"
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=f"ep-{ws.tag}")["EndpointStatus"] == "InService",
                      30, 0.1)
    assert wait_until(lambda: processes_under(jobs / f"sleeper-{ws.tag}"), 20), "the job never started"
    assert wait_until(lambda: any(processes_under(d) for d in jobs.glob("pipelines-*-Sleep-*")), 20), \
        "the pipeline's job never started"
    assert processes_under(endpoints), "no model server for the endpoint"
    localcloud.reset()
    assert wait_until(lambda: not processes_under(jobs), 15), "reset left jobs running"
    assert wait_until(lambda: not processes_under(endpoints), 15), "reset left the model server running"
    assert ws.sm.list_processing_jobs()["ProcessingJobSummaries"] == []
    assert "Buckets" not in ws.s3.list_buckets() or ws.s3.list_buckets()["Buckets"] == []


def test_sigterm_stops_the_server_and_everything_it_started(tmp_path: Path) -> None:
    cloud = LocalCloud.start(tmp_path)
    try:
        ws = Workspace(cloud)
        request = ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])
        ws.sm.create_processing_job(ProcessingJobName="sleeper", **request)
        assert wait_until(lambda: processes_under(tmp_path / "jobs"), 20)
        started = time.monotonic()
        os.killpg(cloud.pid, signal.SIGTERM)
        cloud.process.wait(20)
        assert time.monotonic() - started < 20
        assert wait_until(lambda: not processes_under(tmp_path), 10), processes_under(tmp_path)
    finally:
        cloud.stop()
