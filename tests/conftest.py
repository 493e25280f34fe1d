"""Shared setup. The `localcloud` fixtures come from localcloud's own pytest plugin (localcloud.pytest_plugin),
the same one users load in their projects; every test that uses the server is marked `localcloud` by it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from browser import browser  # noqa: F401  (the page tests' fixture)
from support import REGION, LocalCloud

# Tests never reach real AWS: whatever the developer's shell holds, clients get dummy keys.
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(var, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION})
# Nor PyPI: `make test` builds the image runtimes first; a test that would need a build from the
# network fails fast instead (uv works from its cache only), and pip finds no index.
os.environ.update({"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"})


@pytest.fixture(scope="session")
def localcloud(localcloud: LocalCloud) -> Iterator[LocalCloud]:
    """The plugin's session server; at the end, everything the whole suite left in it must save
    (persistence covers every record any test creates, or this fails at teardown)."""
    yield localcloud
    saved = localcloud.snapshot()
    assert saved["bytes"] > 0


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadscope` (make test): each module's tests on one worker, so module fixtures (a trained
    model, a fast-clock server) are built once, and the whole LocalStack tier on one, since it shares one
    LocalStack. (xdist's own loadgroup cannot do this with pytest 9: its group suffix no longer reaches the
    node ids.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "tests/localstack" if module.startswith("tests/localstack/") else module

    return ByModule(config, log)
