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


def processes_under(folder: Path) -> list[int]:
    """PIDs whose working directory lies under `folder` (jobs and model servers run in their folders)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(str(folder)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def exchange(port: int, data: bytes, pause: float = 0.0, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send raw bytes (one at a time with `pause` between, if given) and read until the server closes.

    Returns everything the server said and the seconds until it closed (or `timeout` passed).
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            if pause:
                for i in range(len(data)):
                    sock.sendall(data[i:i + 1])
                    time.sleep(pause)
            else:
                sock.sendall(data)
        except OSError:
            pass  # the server may answer (and close) before it has read everything
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


def half_sent(port: int, count: int, data: bytes) -> list[socket.socket]:
    """`count` connections that each sent `data` (an unfinished request) and wait."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(data)
        held.append(sock)
    return held


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (whatever it said first is read and dropped)."""
    try:
        sock.settimeout(0.01)
        while chunk := sock.recv(65536):
            del chunk
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


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
