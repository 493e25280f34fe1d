"""LocalStack for the LocalStack tier: its open-source runtime on the host, started and stopped by the tests.

`make localstack` (part of `make test`) builds `.localstack/venv` (Python 3.13, from
integrations/localstack-sagemaker/requirements.txt, with that folder's providers installed) or,
on a machine without Python 3.13, writes why into `.localstack/unavailable`: the tier is then
skipped with that reason, and only then. Under `make test` (SAGESTACK_REQUIRE_LOCALSTACK) a
missing environment for any other reason fails the tier instead of skipping it.

LocalStack starts as `python -m localstack.runtime.main` with a gateway on a free loopback port,
its files under a temporary root, nothing from our environment but what it needs, and
`AWS_ENDPOINT_URL_SAGEMAKER` naming the localcloud that serves SageMaker beside it (backplane
mode), so its CloudFormation can create SageMaker resources there. Clients sign with the account
id as their access key: LocalStack then files everything under localcloud's account.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from support import REGION, ROOT

from localcloud.launcher import LocalCloud

VENV = ROOT / ".localstack" / "venv"
UNAVAILABLE = ROOT / ".localstack" / "unavailable"
ACCOUNT = "123456789012"
START_TIMEOUT = 90.0


def why_unavailable() -> tuple[str, bool] | None:
    """None when LocalStack can run; else (why, whether that is a reason to skip rather than fail)."""
    if (VENV / "bin" / "python").exists() and (VENV / ".synced").exists():
        return None
    if UNAVAILABLE.exists():
        return UNAVAILABLE.read_text().strip(), True
    return "LocalStack's environment is not built (`make localstack` builds it)", not os.environ.get(
        "SAGESTACK_REQUIRE_LOCALSTACK")


class LocalStack:
    """A LocalStack runtime on 127.0.0.1:<port>, its output in `log`."""

    def __init__(self, port: int, sagemaker_url: str | None = None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.root = Path(tempfile.mkdtemp(prefix="localstack-"))
        self.log = self.root / "localstack.log"
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ") if key in os.environ}
        env.update({
            "HOME": str(self.root), "OVERRIDE_IN_DOCKER": "0", "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0", "FILESYSTEM_ROOT": str(self.root / "fs"), "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1", "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1", "LOCALSTACK_TELEMETRY": "0"})
        if sagemaker_url:
            env["AWS_ENDPOINT_URL_SAGEMAKER"] = sagemaker_url
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([str(VENV / "bin" / "python"), "-m", "localstack.runtime.main"],
                                            cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                    services = json.load(answer).get("services", {})
                    if services.get("cloudformation") in ("available", "running"):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.25)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"LocalStack did not start on {self.url}; its log ends:\n{tail}")

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region, aws_access_key_id=ACCOUNT,
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 2}))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


SAGEMAKER = ("sagemaker", "sagemaker-runtime")


@dataclass
class Backplane:
    """LocalStack with localcloud serving SageMaker for it: clients go where their service lives."""

    localstack: LocalStack
    localcloud: LocalCloud

    def client(self, service: str, region: str = REGION) -> Any:
        if service in SAGEMAKER:
            return boto3.client(service, endpoint_url=self.localcloud.url, region_name=region,
                                aws_access_key_id=ACCOUNT, aws_secret_access_key="test",
                                config=Config(retries={"max_attempts": 2}))
        return self.localstack.client(service, region)

    @property
    def cli_options(self) -> list[str]:
        """`sagestack` in backplane mode: SageMaker here, everything else in LocalStack."""
        return ["--endpoint-url", self.localstack.url, "--sagemaker-url", self.localcloud.url]
