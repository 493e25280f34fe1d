"""Approval to production, as code: `sagestack model approve` in the stack's group deploys the model.

The stack's approval rule invokes its deploying function (a Python Lambda function, run by
localcloud as a local process), which updates the stack; the endpoint takes the model through a
canary with automatic rollback (the stage's DeploymentConfig), and `model approve` follows it to
the end. The packages here are in the stack's own model package group.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import BROKEN_SOURCE, Stack, add_package, invoke, upload_models
from support import LocalCloud

from infra import outputs
from sagestack.demo_releases import SteadyTraffic


@pytest.fixture(scope="module")
def registry(localcloud: LocalCloud, stack: Stack) -> Iterator[dict[str, str]]:
    bucket = f"cli-approvals-{uuid.uuid4().hex[:8]}"
    upload_models(localcloud, bucket)
    yield {"group": stack[outputs.MODEL_PACKAGE_GROUP], "bucket": bucket}
    invoke([*stack.options, "endpoint", "delete"])


def _package(localcloud: LocalCloud, registry: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    return add_package(localcloud, registry["group"], registry["bucket"], **kwargs)


def _served(localcloud: LocalCloud) -> str:
    stack = localcloud.client("cloudformation").describe_stacks(StackName="SageStack-local")["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["ModelPackageArn"]


def test_approving_deploys_through_the_stack_then_canaries_the_next_model(localcloud: LocalCloud, stack: Stack,
                                                                         registry: dict[str, str]) -> None:
    first = _package(localcloud, registry)
    approved = invoke([*stack.options, "model", "approve", str(first["ModelPackageVersion"])])
    assert approved.exit_code == 0, approved.output
    assert f"deploying version {first['ModelPackageVersion']} through stack SageStack-local" in approved.stdout
    assert f"serves model package version {first['ModelPackageVersion']}" in approved.stdout
    assert _served(localcloud) == first["ModelPackageArn"]
    second = _package(localcloud, registry)
    canary = invoke([*stack.options, "model", "approve"])
    assert canary.exit_code == 0, canary.output
    assert "Baking: CANARY: 50% of the traffic on the new fleet" in canary.stderr, canary.stderr
    assert f"serves model package version {second['ModelPackageVersion']}" in canary.stdout
    assert _served(localcloud) == second["ModelPackageArn"]
    function = stack[outputs.DEPLOYER_FUNCTION]
    logged = invoke([*stack.options, "logs", "function"])
    assert logged.exit_code == 0 and '"outcome": "deploying"' in logged.stdout, logged.output
    assert localcloud.client("lambda").get_function(FunctionName=function)["Configuration"]["Runtime"] == "python3.13"
    again = invoke([*stack.options, "model", "approve", str(first["ModelPackageVersion"])])
    assert again.exit_code == 0 and "not deployed: a newer version is approved" in again.stdout, again.output


def test_an_approved_model_that_fails_under_traffic_is_rolled_back(localcloud: LocalCloud, stack: Stack,
                                                                   registry: dict[str, str]) -> None:
    serving = _served(localcloud)
    assert serving, "the previous test left a model served"
    broken = _package(localcloud, registry, source=BROKEN_SOURCE)
    with SteadyTraffic(localcloud.client("sagemaker-runtime"), stack[outputs.ENDPOINT_NAME], "0,0,0") as traffic:
        rolled = invoke([*stack.options, "model", "approve", str(broken["ModelPackageVersion"])])
    assert rolled.exit_code == 1, rolled.output
    assert f"the deployment of model package version {broken['ModelPackageVersion']} was rolled back" in \
           rolled.stderr and "sagestack-local-endpoint-5xx" in rolled.stderr, rolled.output
    assert _served(localcloud) == serving
    assert traffic.answered > traffic.failed > 0  # the canary's share failed, for a moment
