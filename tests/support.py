"""Helpers shared by test suites: free ports, waiting on conditions, a real localcloud."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, every: float = 0.05) -> object:
    """Poll `condition` until it returns something truthy or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


class LocalCloud:
    """A running `python -m localcloud` process (extra command-line `args`, `env` and `cwd` for special cases)."""

    def __init__(self, data_dir: Path, args: list[str] | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, log_path: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = log_path or data_dir / "server.log"
        self.log = self.log_path.open("wb")
        if env is not None:
            env = {**env, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "--port", str(self.port), "--data-dir", str(data_dir),
             *(args or [])],
            cwd=cwd or ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_until(lambda: _healthy(self.url) or self.proc.poll() is not None, 30) or not _healthy(self.url):
            self.stop()
            raise RuntimeError(f"localcloud did not start:\n{self.log_path.read_text()[-3000:]}")

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 2}))

    def healthy(self) -> bool:
        return _healthy(self.url)

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
