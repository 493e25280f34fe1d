"""What localcloud's children get and what happens to them: least environment, and no orphans.

Jobs and model servers start from an allowlisted environment with placeholder role credentials,
never localcloud's own credentials or the user's tokens; when localcloud dies, however it dies, its
jobs and model servers die with it and free their ports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from lc_fixtures import ROLE, SKLEARN_IMAGE, Workspace, tarball
from support import LocalCloud, processes_under, wait_until

from localcloud.child_env import ROLE_CREDENTIALS

pytestmark = pytest.mark.localcloud

SECRETS = {"GITHUB_TOKEN": "ghp_secret_1234", "AWS_SESSION_TOKEN": "user-real-session-token",
           "AWS_ACCESS_KEY_ID": "AKIAUSERREALKEY00000", "AWS_SECRET_ACCESS_KEY": "user-real-secret",
           "MY_API_KEY": "sk-secret-5678", "AWS_PROFILE": "production"}
SERVE = b"def model_fn(model_dir):\n    return object()\n"


@pytest.fixture(scope="module")
def secretive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """A localcloud started from an environment full of secrets."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}
    cloud = LocalCloud.start(tmp_path_factory.mktemp("secretive"), env={**env, **SECRETS})
    try:
        yield cloud
    finally:
        cloud.stop()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)




def _assert_least(env: dict[str, str], what: str) -> None:
    leaked = {k for k, v in SECRETS.items() if env.get(k) == v}
    assert not leaked, f"{what} sees {sorted(leaked)}"
    assert "GITHUB_TOKEN" not in env and "MY_API_KEY" not in env and "AWS_PROFILE" not in env, what
    for key, value in ROLE_CREDENTIALS.items():
        assert env[key] == value, (what, key)
    assert env["HOME"] != os.environ.get("HOME"), what


def test_a_job_sees_role_credentials_not_localclouds_or_the_users(secretive: LocalCloud) -> None:
    ws = Workspace(secretive)
    dump = "import os, json; json.dump(dict(os.environ), open('/opt/ml/processing/out/env.json', 'w'))"
    request = ws.processing(["python3", "-c", dump], [], [("out", ws.uri("env/"), "/opt/ml/processing/out")])
    ws.sm.create_processing_job(ProcessingJobName=f"env-{ws.tag}", **request)
    assert wait_until(lambda: ws.sm.describe_processing_job(ProcessingJobName=f"env-{ws.tag}")[
        "ProcessingJobStatus"] in ("Completed", "Failed"), 60, 0.1)
    described = ws.sm.describe_processing_job(ProcessingJobName=f"env-{ws.tag}")
    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    env = json.loads(ws.s3.get_object(Bucket=ws.bucket, Key="env/env.json")["Body"].read())
    _assert_least(env, "the job")
    assert env["AWS_ENDPOINT_URL"] == secretive.url


def test_a_model_server_sees_role_credentials_not_localclouds_or_the_users(secretive: LocalCloud) -> None:
    ws = Workspace(secretive)
    ws.put("model/model.tar.gz", tarball({"unused": b""}))
    ws.put("code/serve.tar.gz", tarball({"serve.py": SERVE}))
    ws.sm.create_model(ModelName=f"m-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": ws.uri("model/model.tar.gz"),
        "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/serve.tar.gz")}})
    ws.sm.create_endpoint_config(EndpointConfigName=f"c-{ws.tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"m-{ws.tag}", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    ws.sm.create_endpoint(EndpointName=f"e-{ws.tag}", EndpointConfigName=f"c-{ws.tag}")
    assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=f"e-{ws.tag}")["EndpointStatus"] != "Creating",
                      60, 0.1)
    assert ws.sm.describe_endpoint(EndpointName=f"e-{ws.tag}")["EndpointStatus"] == "InService"
    pids = processes_under(secretive.data_dir / "endpoints" / f"e-{ws.tag}")
    assert pids
    for pid in pids:
        _assert_least(_environ(pid), f"model server {pid}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_a_killed_localcloud_takes_its_jobs_and_model_servers_with_it(tmp_path: Path) -> None:
    cloud = LocalCloud.start(tmp_path)
    try:
        ws = Workspace(cloud)
        request = ws.processing(["python3", "-c", "import time; time.sleep(600)"], [], [])
        ws.sm.create_processing_job(ProcessingJobName=f"sleeper-{ws.tag}", **request)
        ws.put("model/model.tar.gz", tarball({"unused": b""}))
        ws.put("code/serve.tar.gz", tarball({"serve.py": SERVE}))
        ws.sm.create_model(ModelName=f"m-{ws.tag}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": SKLEARN_IMAGE, "ModelDataUrl": ws.uri("model/model.tar.gz"),
            "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": ws.uri("code/serve.tar.gz")}})
        ws.sm.create_endpoint_config(EndpointConfigName=f"c-{ws.tag}", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"m-{ws.tag}", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
        ws.sm.create_endpoint(EndpointName=f"e-{ws.tag}", EndpointConfigName=f"c-{ws.tag}")
        assert wait_until(lambda: ws.sm.describe_endpoint(EndpointName=f"e-{ws.tag}")["EndpointStatus"]
                          == "InService", 60, 0.1)
        assert wait_until(lambda: processes_under(tmp_path / "jobs" / f"sleeper-{ws.tag}"), 30), "the job never started"
        servers = processes_under(tmp_path / "endpoints" / f"e-{ws.tag}")
        ports = {int(_environ(pid)["SAGEMAKER_BIND_TO_PORT"]) for pid in servers}
        assert servers and ports
    finally:
        os.killpg(cloud.pid, signal.SIGKILL)  # no chance to clean up
        cloud.process.wait()
    assert wait_until(lambda: not processes_under(tmp_path / "jobs") and not processes_under(tmp_path / "endpoints"),
                      15), "jobs or model servers outlived localcloud"
    assert all(_port_free(port) for port in ports)
