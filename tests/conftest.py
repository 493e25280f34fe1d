"""Shared fixtures: a real localcloud server on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from support import REGION, LocalCloud

# Tests never reach real AWS: whatever the developer's shell holds, clients get dummy keys.
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(var, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION})


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud(tmp_path_factory.mktemp("localcloud"))
    try:
        yield cloud
    finally:
        cloud.stop()
