"""Backplane mode without LocalStack: what localcloud serves, what it refuses, and what its children are told.

(The LocalStack tier, tests/localstack/, runs the same mode against a real LocalStack.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import SKLEARN_IMAGE
from support import wait_until

from localcloud import aws
from localcloud.child_env import child_environment
from localcloud.launcher import LocalCloud

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers, which localcloud only logs


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> LocalCloud:
    cloud = LocalCloud.start(tmp_path_factory.mktemp("backplane"), args=["--backplane", NOWHERE])
    yield cloud
    cloud.stop()


def test_sagemaker_is_served_and_other_services_are_refused_saying_where_they_live(split: LocalCloud) -> None:
    assert split.client("sagemaker").list_pipelines()["PipelineSummaries"] == []
    with pytest.raises(ClientError) as refused:
        split.client("s3").list_buckets()
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert error["Code"] == "NotImplemented"
    assert f"S3 is at {NOWHERE}" in error["Message"] and "AWS_ENDPOINT_URL_SAGEMAKER" in error["Message"]
    with pytest.raises(ClientError, match="CloudWatch is at"):
        split.client("cloudwatch").list_metrics()
    with urllib.request.urlopen(f"{split.url}/_localcloud/health") as answer:
        health = json.load(answer)
    assert health["backplane"] == NOWHERE and health["aws_endpoint"] == NOWHERE
    assert health["services"] == ["sagemaker", "sagemaker-runtime"]


def test_a_job_that_needs_the_backplane_fails_with_the_reason(split: LocalCloud) -> None:
    """Its input lives in the backplane's S3, which does not answer: the job fails, localcloud stays up."""
    sm = split.client("sagemaker")
    sm.create_processing_job(
        ProcessingJobName="needs-backplane", RoleArn="arn:aws:iam::123456789012:role/r",
        ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                               "VolumeSizeInGB": 30}},
        AppSpecification={"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": ["python3", "-c", "print(1)"]},
        ProcessingInputs=[{"InputName": "data", "S3Input": {
            "S3Uri": "s3://elsewhere/data/", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}}])

    def ended() -> dict | None:
        described = sm.describe_processing_job(ProcessingJobName="needs-backplane")
        return described if described["ProcessingJobStatus"] not in ("InProgress", "Stopping") else None

    described = wait_until(ended, 120, 0.2)
    assert described and described["ProcessingJobStatus"] == "Failed"
    assert "127.0.0.1:9" in described["FailureReason"] or "elsewhere" in described["FailureReason"]
    assert split.healthy()


def test_children_call_the_backplane_and_sagemaker_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aws.ENDPOINT_ENV, NOWHERE)
    monkeypatch.setenv(aws.SELF_ENV, "http://127.0.0.1:4566")
    env = child_environment("us-east-1", tmp_path)
    assert env["AWS_ENDPOINT_URL"] == NOWHERE
    assert env["AWS_ENDPOINT_URL_SAGEMAKER"] == env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:4566"
    assert env["AWS_ACCESS_KEY_ID"] == aws.ACCOUNT_ID  # LocalStack files a 12-digit key's calls under that account
    assert aws.url_for("s3") == NOWHERE and aws.url_for("sagemaker") == "http://127.0.0.1:4566"
    assert aws.backplane() == NOWHERE


@pytest.mark.parametrize(("value", "message"), [
    ("localhost:4566", "is not an http(s) URL of a host"),
    ("ftp://127.0.0.1:21", "is not an http(s) URL of a host"),
    ("http://127.0.0.1:4566/s3", "without a path or query"),
])
def test_a_bad_backplane_url_is_refused_at_start(value: str, message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "localcloud", "--port", "0", "--backplane", value],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr
