"""localcloud's pytest plugin, used the way a user's project uses it: from a separate project, by pytest alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.localcloud  # starts its own server (in the user's project)

USERS_TESTS = '''
import boto3

def test_orders_land_in_the_bucket(localcloud_env):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="orders")
    s3.put_object(Bucket="orders", Key="1.json", Body=b"{}")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="orders")["Contents"]] == ["1.json"]

def test_a_test_can_start_from_an_empty_account(localcloud_reset, localcloud_env):
    assert boto3.client("s3").list_buckets()["Buckets"] == []

def test_pure_logic():
    assert sorted([3, 1, 2]) == [1, 2, 3]
'''


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST", "PYTHONPATH"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)


def test_a_separate_project_gets_a_server_a_reset_and_an_environment_from_the_plugin(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "test_orders.py").write_text(USERS_TESTS)
    everything = _pytest(project)
    assert everything.returncode == 0, everything.stdout[-3000:] + everything.stderr[-2000:]
    assert "3 passed" in everything.stdout
    unit = _pytest(project, "-m", "not localcloud")  # the plugin marked the tests that use the server
    assert unit.returncode == 0, unit.stdout[-2000:]
    assert "1 passed, 2 deselected" in unit.stdout
