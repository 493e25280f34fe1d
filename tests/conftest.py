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


HEAVY = {  # seconds per module (or tier) in `make test` on 2 cores, measured; the rest take a few seconds each
    "tests/cli/test_cli_endpoint.py": 230, "tests/localstack": 150, "tests/infra/test_cdk_deploy.py": 140,
    "tests/localcloud/test_lc_hostile_fuzz.py": 95, "tests/cli/test_cli_approvals.py": 90,
    "tests/infra/test_cdk_cli.py": 80, "tests/cli/test_cli_pipeline.py": 70, "tests/demo/test_demo_interrupt.py": 65,
    "tests/cli/test_cli_report.py": 60, "tests/localcloud/test_persistence.py": 45,
}


def _scope(nodeid: str) -> str:
    """A test's unit of distribution: its module, or the whole LocalStack tier (it shares one LocalStack)."""
    module = nodeid.split("::", 1)[0]
    return "tests/localstack" if module.startswith("tests/localstack/") else module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest modules first (a stable sort: each module's own order is kept), so that with two workers
    no long module starts last and leaves the other worker idle (longest processing time first)."""
    items.sort(key=lambda item: -HEAVY.get(_scope(item.nodeid), 0))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadscope` (make test): each module's tests on one worker, so module fixtures (a trained
    model, a fast-clock server) are built once, and the whole LocalStack tier on one, since it shares one
    LocalStack; scopes go out in collection order (heaviest first, above). (xdist's own loadgroup cannot do
    this with pytest 9: its group suffix no longer reaches the node ids.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            config.option.loadscopereorder = False  # not by test count: by the order above

        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return ByModule(config, log)
