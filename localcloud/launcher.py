"""Start, reach and stop a localcloud server: the one launcher that the CLI, the demo, the tests, the
benchmarks and users' own test suites (through the pytest plugin) all use.

Why one: a launcher decides things that must not differ between callers. The server gets an
environment without the caller's AWS credentials, profile or endpoint (it runs code, and none
of that must reach a job); it runs in a process group of its own so that stopping it stops
everything it started; it binds port 0 unless told otherwise and reports the port it got
through a ready file, so two launchers never race for the same "free" port; and clients get
placeholder credentials, no config files and the server's URL, so a test can never reach AWS.

    with LocalCloud.start() as cloud:            # ephemeral: state goes with the process
        cloud.client("s3").create_bucket(Bucket="b")
        env = cloud.environment()                 # AWS_ENDPOINT_URL and friends, for subprocesses
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
KEY = "test"
"""Placeholder credentials: any are accepted, and these never leave the machine."""
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

_AWS_ACCESS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
               "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "LOCALCLOUD_AWS_ENDPOINT")


class LaunchError(RuntimeError):
    """localcloud did not start (the message carries the end of its log)."""


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (for servers that cannot report the port they bound)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The health document of a localcloud at `url`, or None when nothing (or not localcloud) answers."""
    try:
        with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=timeout) as response:
            body = json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) and body.get("status") == "ready" else None


def server_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's) without anything that grants real AWS access, with placeholder keys."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k not in _AWS_ACCESS and not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": KEY, "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                "PYTHONUNBUFFERED": "1"})
    return env


def client_environment(url: str, region: str = REGION) -> dict[str, str]:
    """What points boto3, the SageMaker Python SDK, the AWS CLI and the CDK CLI at the localcloud at `url`."""
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": KEY,
            "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone, and a child of ours is reaped here)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def stop_process(pid: int, timeout: float = STOP_TIMEOUT, on_wait: Callable[[float], None] | None = None) -> bool:
    """SIGTERM a localcloud (it stops its own children), wait; SIGKILL its process group after `timeout`.

    True when it stopped by itself. The server leads its own session (the launcher starts it so),
    so its group is exactly it and what it started. `on_wait(elapsed)` is called while waiting.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    started = time.monotonic()
    while pid_alive(pid):
        if on_wait is not None:
            on_wait(time.monotonic() - started)
        if time.monotonic() - started > timeout:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            give_up = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < give_up:
                time.sleep(0.05)
            return False
        time.sleep(0.05)
    return True


class LocalCloud:
    """A running localcloud server started by this launcher."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, data_dir: Path | None, log_path: Path):
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.data_dir = data_dir
        self.log_path = log_path

    @classmethod
    def start(cls, data_dir: Path | str | None = None, *, port: int = 0, host: str = HOST,
              args: Sequence[str] = (), env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
              log_path: Path | str | None = None, timeout: float = START_TIMEOUT,
              on_wait: Callable[[float], None] | None = None) -> LocalCloud:
        """Start `python -m localcloud` and wait until it answers.

        `data_dir`: where jobs, model servers and (later) state live; None for a temporary one the
        server removes at exit. `env`: the server's exact environment (default: this process's,
        scrubbed by `server_environment`). `log_path`: the server's output (default: a file in
        `data_dir`, else a temporary file). `on_wait(elapsed)` is called while waiting (progress).
        """
        folder = Path(data_dir).resolve() if data_dir is not None else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        log = Path(log_path) if log_path else (folder / "localcloud.log" if folder else Path(
            tempfile.mkstemp(prefix="localcloud-", suffix=".log")[1]))
        ready_fd, ready_name = tempfile.mkstemp(prefix="localcloud-ready-", suffix=".json")
        os.close(ready_fd)
        ready = Path(ready_name)
        ready.unlink()
        command = [sys.executable, "-m", "localcloud", "--host", host, "--port", str(port), "--ready-file", str(ready)]
        if folder is not None:
            command += ["--data-dir", str(folder)]
        environment = server_environment() if env is None else dict(env)
        with log.open("ab") as out:
            process = subprocess.Popen([*command, *args], cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = cls._wait_ready(process, ready, log, timeout, on_wait)
        except BaseException:
            stop_process(process.pid, 5)
            process.wait()
            raise
        finally:
            ready.unlink(missing_ok=True)
        return cls(process, url, folder, log)

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], ready: Path, log: Path, timeout: float,
                    on_wait: Callable[[float], None] | None) -> str:
        started = time.monotonic()
        deadline = started + timeout
        url = None
        while True:
            if on_wait is not None:
                on_wait(time.monotonic() - started)
            if url is None and ready.exists():
                with contextlib.suppress(OSError, ValueError, KeyError):
                    url = str(json.loads(ready.read_text())["url"])
            if url is not None and health(url, timeout=1.0):
                return url
            if process.poll() is not None or time.monotonic() > deadline:
                what = "exited" if process.poll() is not None else f"did not answer within {timeout:.0f} s"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise LaunchError(f"localcloud {what}; its log ({log}) ends:\n{tail}")
            time.sleep(0.02)

    # ------------------------------------------------------------------------------------ reaching it
    @property
    def pid(self) -> int:
        return self.process.pid

    def environment(self, region: str = REGION) -> dict[str, str]:
        """Variables that point boto3, the SageMaker SDK, the AWS CLI and the CDK CLI at this server."""
        return client_environment(self.url, region)

    def session(self, region: str = REGION) -> boto3.Session:
        """A boto3 session with placeholder keys that reads no profile or config file."""
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
        return boto3.Session(botocore_session=core, aws_access_key_id=KEY, aws_secret_access_key=KEY,
                             region_name=region)

    def client(self, service: str, region: str = REGION, config: Config | None = None) -> Any:
        """A boto3 client for `service` on this server (two attempts, so a failure shows at once)."""
        return self.session(region).client(service, endpoint_url=self.url,
                                           config=config or Config(retries={"max_attempts": 2}))

    def healthy(self) -> bool:
        return health(self.url) is not None

    def reset(self) -> None:
        """Forget every resource and stop every job, execution and endpoint (moto's reset, extended)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 200:
                raise RuntimeError(f"reset answered {response.status}")

    def snapshot(self) -> dict[str, Any]:
        """Save the state now (a server started with a data dir); raises RuntimeError saying why it could not."""
        request = urllib.request.Request(f"{self.url}/_localcloud/snapshot", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as e:
            raise RuntimeError(json.loads(e.read() or b"{}").get("message", f"snapshot answered {e.code}")) from None

    # ------------------------------------------------------------------------------------ stopping it
    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the server and everything it started; True when it stopped by itself (SIGTERM)."""
        if self.process.poll() is not None:
            return True
        graceful = stop_process(self.pid, timeout)
        self.process.wait()
        return graceful

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
