"""The LocalStack tier: LocalStack on the host and, beside it, a localcloud in backplane mode serving SageMaker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localstack_support import Backplane, LocalStack, why_unavailable

from localcloud.launcher import LocalCloud, free_port


@pytest.fixture(scope="session")
def backplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backplane]:
    problem = why_unavailable()
    if problem is not None:
        why, skip = problem
        if skip:
            pytest.skip(f"LocalStack tier: {why}")
        pytest.fail(f"LocalStack tier: {why}")
    localcloud_port = free_port()
    localstack = LocalStack(free_port(), sagemaker_url=f"http://127.0.0.1:{localcloud_port}")
    try:
        folder = tmp_path_factory.mktemp("backplane")
        localcloud = LocalCloud.start(folder / "localcloud", port=localcloud_port,
                                      args=["--backplane", localstack.url])
        try:
            yield Backplane(localstack, localcloud)
        finally:
            localcloud.stop()
    finally:
        localstack.stop()
