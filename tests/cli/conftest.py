"""The localcloud the CLI works in, on a fast clock, and the stack in it, deployed once per session with
`sagestack deploy` (the real CDK CLI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_support import Stack, invoke
from support import LocalCloud

TIME_SCALE = 60
"""AWS minutes last a real second: a model deployment's canary bakes (two minutes each in the local stage's
config) take seconds, as in `make demo`."""


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud.start(tmp_path_factory.mktemp("cli-localcloud"), args=["--time-scale", str(TIME_SCALE)]) as cloud:
        yield cloud
        assert cloud.snapshot()["bytes"] > 0  # everything the CLI's tests left in it saves


@pytest.fixture(scope="session")
def stack(localcloud: LocalCloud) -> Stack:
    result = invoke(["--endpoint-url", localcloud.url, "deploy"])
    assert result.exit_code == 0, result.output[-4000:]
    described = localcloud.client("cloudformation").describe_stacks(StackName="SageStack-local")["Stacks"][0]
    return Stack(localcloud.url, {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]})
