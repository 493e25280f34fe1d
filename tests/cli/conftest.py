"""The stack the CLI works in, deployed once per session with `sagestack deploy` (the real CDK CLI)."""

from __future__ import annotations

import pytest
from cli_support import Stack, invoke
from support import LocalCloud


@pytest.fixture(scope="session")
def stack(localcloud: LocalCloud) -> Stack:
    result = invoke(["--endpoint-url", localcloud.url, "deploy"])
    assert result.exit_code == 0, result.output[-4000:]
    described = localcloud.client("cloudformation").describe_stacks(StackName="SageStack-local")["Stacks"][0]
    return Stack(localcloud.url, {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]})
