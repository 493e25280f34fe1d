"""`sagestack endpoint deploy/invoke/status/delete`: a tiny sklearn model in a package, served through the stack.

The packages live in a group of this module's own (named with --model-package-group, which
also exercises the override); `endpoint deploy` serves them with the stack's endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cli_support import BROKEN_SOURCE, PIN, Names, Stack, add_package, invoke, upload_models
from support import LocalCloud, wait_until

from infra import outputs
from sagestack.demo_releases import SteadyTraffic


@pytest.fixture(scope="module")
def names(localcloud: LocalCloud, stack: Stack) -> Iterator[Names]:
    names = Names()
    upload_models(localcloud, names.bucket)
    localcloud.client("sagemaker").create_model_package_group(ModelPackageGroupName=names.group)
    yield names
    invoke([*stack.options, "endpoint", "delete"])  # normally removed by the tests already


def _options(stack: Stack, names: Names) -> list[str]:
    return [*stack.options, "--model-package-group", names.group]


def _add_package(localcloud: LocalCloud, names: Names, pin: str | None = PIN, metadata_pin: str | None = PIN,
                 approved: bool = False, source: str = "m/sourcedir.tar.gz") -> dict[str, Any]:
    return add_package(localcloud, names.group, names.bucket, pin=pin, metadata_pin=metadata_pin, approved=approved,
                       source=source)


def test_deploy_needs_an_approved_package(localcloud: LocalCloud, stack: Stack, names: Names) -> None:
    _add_package(localcloud, names)
    result = invoke([*_options(stack, names), "endpoint", "deploy"])
    assert result.exit_code == 1
    assert result.stderr == (f"error: model package group {names.group!r} has no Approved package; "
                             "approve one with `sagestack model approve`\n")
    result = invoke([*_options(stack, names), "endpoint", "deploy", "--version", "1"])
    assert result.exit_code == 1
    assert "version 1 is PendingManualApproval, not Approved" in result.stderr


def test_deploy_invoke_status_delete(localcloud: LocalCloud, stack: Stack, names: Names, tmp_path: Path) -> None:
    opts, endpoint = _options(stack, names), stack[outputs.ENDPOINT_NAME]
    assert invoke([*opts, "model", "approve", "latest"]).exit_code == 0
    result = invoke([*opts, "endpoint", "deploy"])
    assert result.exit_code == 0, result.output
    assert f"creating endpoint {endpoint} with model package version 1 through stack SageStack-local" in result.stdout
    assert f"endpoint {endpoint} is InService, serving model package version 1" in result.stdout
    assert "ServingEndpoint" in result.stderr  # the CDK CLI's own progress, shown as it happened
    sm = localcloud.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{stack[outputs.CAPTURE_BUCKET]}/data-capture"
    assert config["KmsKeyId"] == stack[outputs.KEY_ARN]
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"].endswith(f"{names.group}/1")
    assert model["PrimaryContainer"]["Environment"] == {"SAGESTACK_MODEL_SHA256": PIN}
    assert model["ExecutionRoleArn"] == stack[outputs.MODEL_ROLE_ARN]

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
    prefix = f"data-capture/{endpoint}/AllTraffic/"
    captured = wait_until(lambda: s3.list_objects_v2(Bucket=stack[outputs.CAPTURE_BUCKET], Prefix=prefix).get(
        "KeyCount", 0), 15)
    assert captured, "the deployed endpoint did not capture requests"

    status = invoke([*opts, "endpoint", "status"])
    assert status.exit_code == 0
    assert "InService" in status.stdout and f"model-package/{names.group}/1" in status.stdout
    logs = invoke([*opts, "logs", "endpoint"])  # the model server's own lines, by variant and instance
    assert logs.exit_code == 0 and re.search(r"^\d\d:\d\d:\d\d \[AllTraffic/", logs.stdout, re.MULTILINE), logs.output

    deleted = invoke([*opts, "endpoint", "delete"])
    assert deleted.exit_code == 0, deleted.output
    assert f"endpoint {endpoint} removed" in deleted.stdout
    gone = invoke([*opts, "endpoint", "status"])
    assert gone.exit_code == 1
    assert gone.stderr == f"error: endpoint {endpoint} does not exist (deploy it with `sagestack endpoint deploy`)\n"
    assert not [m for m in sm.list_models()["Models"] if m["ModelName"].startswith("SageStack-local-Serving")]
    nothing = invoke([*opts, "endpoint", "delete"])
    assert nothing.exit_code == 0 and "stack SageStack-local serves no endpoint" in nothing.stdout


def test_deploy_updates_the_endpoint_to_a_newly_approved_version_blue_green(localcloud: LocalCloud, stack: Stack,
                                                                           names: Names) -> None:
    opts, endpoint = _options(stack, names), stack[outputs.ENDPOINT_NAME]
    first = _add_package(localcloud, names)
    assert invoke([*opts, "model", "approve", str(first["ModelPackageVersion"])]).exit_code == 0
    created = invoke([*opts, "endpoint", "deploy"])
    assert created.exit_code == 0, created.output
    sm = localcloud.client("sagemaker")
    before = sm.describe_endpoint(EndpointName=endpoint)
    second = _add_package(localcloud, names)
    assert invoke([*opts, "model", "approve"]).exit_code == 0
    updated = invoke([*opts, "endpoint", "deploy"])
    assert updated.exit_code == 0, updated.output
    version = second["ModelPackageVersion"]
    assert f"updating endpoint {endpoint} with model package version {version}" in updated.stdout
    # the stage's guarded deployment, as it went: a canary of one of the two instances, then everything
    assert "Updating, Baking: CANARY: 50% of the traffic on the new fleet; rollback alarms " \
           "sagestack-local-endpoint-5xx, sagestack-local-endpoint-latency-p99, " \
           "sagestack-local-endpoint-new-fleet-latency-p99" in updated.stderr, updated.stderr
    assert "Baking: CANARY: 100% of the traffic on the new fleet" in updated.stderr
    after = sm.describe_endpoint(EndpointName=endpoint)
    assert after["EndpointStatus"] == "InService" and after["EndpointArn"] == before["EndpointArn"]  # updated
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    with pytest.raises(ClientError):  # the old config goes once the endpoint has moved on
        sm.describe_endpoint_config(EndpointConfigName=before["EndpointConfigName"])
    result = invoke([*opts, "endpoint", "invoke", "--body", "0,0,0"])
    assert result.exit_code == 0 and float(result.stdout) == pytest.approx(3.0, abs=1e-6)
    assert invoke([*opts, "endpoint", "delete"]).exit_code == 0


def test_a_model_failing_under_traffic_is_rolled_back_and_the_stack_keeps_serving_the_old_one(
        localcloud: LocalCloud, stack: Stack, names: Names) -> None:
    opts, endpoint = _options(stack, names), stack[outputs.ENDPOINT_NAME]
    good = _add_package(localcloud, names, approved=True)
    assert invoke([*opts, "endpoint", "deploy", "--version", str(good["ModelPackageVersion"])]).exit_code == 0
    sm = localcloud.client("sagemaker")
    before = sm.describe_endpoint(EndpointName=endpoint)
    broken = _add_package(localcloud, names, approved=True, source=BROKEN_SOURCE)
    with SteadyTraffic(localcloud.client("sagemaker-runtime"), endpoint, "0,0,0") as traffic:
        rolled = invoke([*opts, "endpoint", "deploy", "--version", str(broken["ModelPackageVersion"])])
    assert rolled.exit_code == 1
    assert f"the deployment of model package version {broken['ModelPackageVersion']} was rolled back" in \
           rolled.stderr and "sagestack-local-endpoint-5xx" in rolled.stderr, rolled.output
    assert f"it still serves {good['ModelPackageArn']}" in rolled.stderr
    assert "Baking: CANARY: 50% of the traffic on the new fleet" in rolled.stderr, rolled.stderr
    assert "100% of the traffic on the new fleet" not in rolled.stderr
    after = sm.describe_endpoint(EndpointName=endpoint)
    assert after["EndpointStatus"] == "InService" and after["EndpointConfigName"] == before["EndpointConfigName"]
    stack_now = localcloud.client("cloudformation").describe_stacks(StackName="SageStack-local")["Stacks"][0]
    assert stack_now["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack_now["Parameters"]}
    assert parameters["ModelPackageArn"] == good["ModelPackageArn"]
    assert traffic.answered > 0 and traffic.failed > 0  # the canary's share failed, the rest was answered
    result = invoke([*opts, "endpoint", "invoke", "--body", "0,0,0"])
    assert result.exit_code == 0 and float(result.stdout) == pytest.approx(3.0, abs=1e-6)
    assert invoke([*opts, "endpoint", "delete"]).exit_code == 0


def test_deploy_refuses_packages_without_a_model_pin(stack: Stack, names: Names, localcloud: LocalCloud) -> None:
    unpinned = _add_package(localcloud, names, pin=None, metadata_pin=None, approved=True)
    version = unpinned["ModelPackageVersion"]
    refused = invoke([*_options(stack, names), "endpoint", "deploy", "--version", str(version)])
    assert refused.exit_code == 1
    assert f"model package version {version} records no model sha256" in refused.stderr


def test_deploy_refuses_a_package_whose_two_pins_disagree(localcloud: LocalCloud, stack: Stack,
                                                          names: Names) -> None:
    edited = _add_package(localcloud, names, pin=PIN, metadata_pin="0" * 64, approved=True)
    refused = invoke([*_options(stack, names), "endpoint", "deploy", "--version", str(edited["ModelPackageVersion"])])
    assert refused.exit_code == 1
    assert "records two different model digests" in refused.stderr and "refusing it" in refused.stderr
