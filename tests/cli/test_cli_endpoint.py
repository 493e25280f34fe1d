"""`sagestack endpoint deploy/invoke/status/delete` with a tiny sklearn model in a model package."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from botocore.exceptions import ClientError
from cli_support import SERVE, SKLEARN_IMAGE, Names, invoke, tarball
from sklearn.linear_model import LinearRegression
from support import LocalCloud, wait_until

from sagestack.endpoint_cmds import deployment_config


def _model_joblib() -> bytes:
    """y = 2a - b + c/2 + 3, fitted exactly."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    y = 2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + 3
    buf = io.BytesIO()
    joblib.dump(LinearRegression().fit(X, y), buf)
    return buf.getvalue()


MODEL = _model_joblib()
PIN = hashlib.sha256(MODEL).hexdigest()


@pytest.fixture(scope="module")
def names(localcloud: LocalCloud) -> Iterator[Names]:
    names = Names()
    sm, s3 = localcloud.client("sagemaker"), localcloud.client("s3")
    s3.create_bucket(Bucket=names.bucket)
    s3.put_object(Bucket=names.bucket, Key="m/model.tar.gz", Body=tarball({"model.joblib": MODEL}))
    s3.put_object(Bucket=names.bucket, Key="m/sourcedir.tar.gz", Body=tarball({"serve.py": SERVE}))
    sm.create_model_package_group(ModelPackageGroupName=names.group)
    yield names
    with contextlib.suppress(ClientError):  # normally deleted by the tests already
        sm.delete_endpoint(EndpointName=names.endpoint)


def _add_package(localcloud: LocalCloud, names: Names, pin: str | None = PIN, metadata_pin: str | None = PIN,
                 approved: bool = False) -> dict[str, Any]:
    """A package as the pipeline registers it: the model digest in its metadata and serving environment."""
    environment = {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{names.bucket}/m/sourcedir.tar.gz"}
    if pin:
        environment["SAGESTACK_MODEL_SHA256"] = pin
    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{names.bucket}/m/model.tar.gz",
                 "Environment": environment}
    sm = localcloud.client("sagemaker")
    extra: dict[str, Any] = {"CustomerMetadataProperties": {"sagestack:model-sha256": metadata_pin}} \
        if metadata_pin else {}
    arn = sm.create_model_package(ModelPackageGroupName=names.group,
                                  ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
                                  InferenceSpecification={"Containers": [container],
                                                          "SupportedContentTypes": ["text/csv", "application/json"],
                                                          "SupportedResponseMIMETypes": ["text/csv"]}, **extra)
    return sm.describe_model_package(ModelPackageName=arn["ModelPackageArn"])


def test_deploy_needs_an_approved_package(localcloud: LocalCloud, names: Names) -> None:
    _add_package(localcloud, names)
    result = invoke([*names.options(localcloud.url), "endpoint", "deploy"])
    assert result.exit_code == 1
    assert result.stderr == (f"error: model package group {names.group!r} has no Approved package; "
                             "approve one with `sagestack model approve`\n")
    result = invoke([*names.options(localcloud.url), "endpoint", "deploy", "--version", "1"])
    assert result.exit_code == 1
    assert "version 1 is PendingManualApproval, not Approved" in result.stderr


def test_deploy_invoke_status_delete(localcloud: LocalCloud, names: Names, tmp_path: Path) -> None:
    opts = names.options(localcloud.url)
    assert invoke([*opts, "model", "approve", "latest"]).exit_code == 0
    result = invoke([*opts, "endpoint", "deploy", "--capture-percent", "100"])
    assert result.exit_code == 0, result.output
    assert f"endpoint {names.endpoint} is InService, serving model package version 1" in result.stdout
    sm = localcloud.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=names.endpoint)
    assert described["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{names.bucket}/taxi-duration/data-capture"
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"].endswith(f"{names.group}/1")
    assert model["PrimaryContainer"]["Environment"] == {"SAGESTACK_MODEL_SHA256": PIN}

    again = invoke([*opts, "endpoint", "deploy"])  # nothing new approved: nothing to do
    assert again.exit_code == 0
    assert "already serves model package version 1" in again.stdout

    csv = invoke([*opts, "endpoint", "invoke", "--body", "1,0,0\n0,1,2"])
    assert csv.exit_code == 0, csv.output
    assert [float(v) for v in csv.stdout.split()] == pytest.approx([5.0, 3.0], abs=1e-6)

    body = tmp_path / "rows.json"
    body.write_text(json.dumps([[0, 0, 0], [1, 1, 1]]))
    js = invoke([*opts, "endpoint", "invoke", "--file", str(body), "--accept", "application/json"])
    assert js.exit_code == 0, js.output
    assert json.loads(js.stdout) == pytest.approx([3.0, 4.5], abs=1e-6)

    bad = invoke([*opts, "endpoint", "invoke", "-b", "1,x,3"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: InvokeEndpoint on localcloud at") and "ModelError" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1
    usage = invoke([*opts, "endpoint", "invoke"])
    assert usage.exit_code == 2 and "give exactly one of --body and --file" in usage.output

    s3 = localcloud.client("s3")
    prefix = f"taxi-duration/data-capture/{names.endpoint}/AllTraffic/"
    captured = wait_until(lambda: s3.list_objects_v2(Bucket=names.bucket, Prefix=prefix).get("KeyCount", 0), 15)
    assert captured, "the deployed endpoint did not capture requests"

    status = invoke([*opts, "endpoint", "status"])
    assert status.exit_code == 0
    assert "InService" in status.stdout and f"model-package/{names.group}/1" in status.stdout

    deleted = invoke([*opts, "endpoint", "delete"])
    assert deleted.exit_code == 0, deleted.output
    assert f"endpoint {names.endpoint} deleted" in deleted.stdout
    gone = invoke([*opts, "endpoint", "status"])
    assert gone.exit_code == 1
    assert gone.stderr == (f"error: endpoint {names.endpoint} does not exist "
                           "(deploy it with `sagestack endpoint deploy`)\n")


def _update_endpoint_supported(localcloud: LocalCloud) -> bool:
    """AWS answers UpdateEndpoint for a missing endpoint with a ValidationException naming it."""
    try:
        localcloud.client("sagemaker").update_endpoint(EndpointName="probe-missing-7d2", EndpointConfigName="x")
    except ClientError as e:
        return e.response["Error"]["Code"] == "ValidationException"
    return False


def test_deploy_updates_the_endpoint_to_a_newly_approved_version(localcloud: LocalCloud, names: Names) -> None:
    if not _update_endpoint_supported(localcloud):
        pytest.skip("this localcloud does not implement UpdateEndpoint yet")
    opts = names.options(localcloud.url)
    first = _add_package(localcloud, names)
    assert invoke([*opts, "model", "approve", str(first["ModelPackageVersion"])]).exit_code == 0
    created = invoke([*opts, "endpoint", "deploy", "--capture-percent", "0"])
    assert created.exit_code == 0, created.output
    second = _add_package(localcloud, names)
    assert invoke([*opts, "model", "approve"]).exit_code == 0
    updated = invoke([*opts, "endpoint", "deploy", "--capture-percent", "0"])
    assert updated.exit_code == 0, updated.output
    version = second["ModelPackageVersion"]
    assert f"updating endpoint {names.endpoint}: model package version {version}" in updated.stdout
    sm = localcloud.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=names.endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"].startswith(f"{names.endpoint}-v{second['ModelPackageVersion']}-")
    result = invoke([*opts, "endpoint", "invoke", "--body", "0,0,0"])
    assert result.exit_code == 0 and float(result.stdout) == pytest.approx(3.0, abs=1e-6)
    assert invoke([*opts, "endpoint", "delete"]).exit_code == 0


def test_deploy_refuses_packages_without_a_model_pin_unless_told(localcloud: LocalCloud, names: Names) -> None:
    opts = names.options(localcloud.url)
    unpinned = _add_package(localcloud, names, pin=None, metadata_pin=None, approved=True)
    version = unpinned["ModelPackageVersion"]
    refused = invoke([*opts, "endpoint", "deploy", "--version", str(version), "--capture-percent", "0"])
    assert refused.exit_code == 1
    assert f"model package version {version} records no model sha256" in refused.stderr
    assert "--unpinned" in refused.stderr
    accepted = invoke([*opts, "endpoint", "deploy", "--version", str(version), "--capture-percent", "0", "--unpinned"])
    assert accepted.exit_code == 0, accepted.output
    sm = localcloud.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(
        EndpointName=names.endpoint)["EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert "Environment" not in model["PrimaryContainer"]
    assert invoke([*opts, "endpoint", "delete"]).exit_code == 0


def test_deploy_refuses_a_package_whose_two_pins_disagree(localcloud: LocalCloud, names: Names) -> None:
    opts = names.options(localcloud.url)
    edited = _add_package(localcloud, names, pin=PIN, metadata_pin="0" * 64, approved=True)
    refused = invoke([*opts, "endpoint", "deploy", "--version", str(edited["ModelPackageVersion"])])
    assert refused.exit_code == 1
    assert "records two different model digests" in refused.stderr and "refusing it" in refused.stderr


def test_deployment_guardrails_follow_the_update_endpoint_shape() -> None:
    assert deployment_config(None, (), None) is None  # SageMaker's own default
    canary = deployment_config(10, ("ep-5xx", "ep-latency"), None)
    assert canary == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                                            "WaitIntervalInSeconds": 300},
            "TerminationWaitInSeconds": 300,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ep-5xx"}, {"AlarmName": "ep-latency"}]},
    }
    quick = deployment_config(None, ("a",), 30)
    assert quick["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE",
                                                                             "WaitIntervalInSeconds": 0}
    assert quick["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 30
