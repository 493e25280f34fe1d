"""pytest fixtures for testing against localcloud (installed as the `localcloud` pytest11 plugin).

    def test_uploads(localcloud_env):                     # boto3, the SageMaker SDK, the CDK CLI: all local
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="reports")
        ...

- `localcloud` (session): one server for the whole run, on a free loopback port, with its data
  under pytest's temporary folder; stopped with everything it started at the end.
- `localcloud_reset`: the same server, emptied before the test (every resource forgotten, every
  job, execution and endpoint stopped), for tests that need a clean account.
- `localcloud_env`: the process environment pointed at the server for the test (AWS_ENDPOINT_URL,
  placeholder keys, the region; no profile, no config files), so code that builds its own
  clients, and subprocesses such as `cdk deploy`, reach localcloud and never AWS.

Every test that uses the server (directly or through these fixtures) gets the `localcloud`
marker, so `pytest -m "not localcloud"` runs the unit tests alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localcloud.launcher import LocalCloud, client_environment

MARKER = "localcloud"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: needs a localcloud server (the localcloud fixture starts one)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "localcloud" in getattr(item, "fixturenames", ()):
            item.add_marker(MARKER)


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud.start(tmp_path_factory.mktemp("localcloud"))
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def localcloud_reset(localcloud: LocalCloud) -> LocalCloud:
    localcloud.reset()
    return localcloud


@pytest.fixture
def localcloud_env(localcloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN") or \
                name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name)
    env = client_environment(localcloud.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
