"""Run localcloud in the background for a project: start, find, stop.

Why a pid file and a state file under `<project>/.localcloud/`: `sagestack up` returns at
once while the server keeps running, so a later `sagestack down` (from any folder of the
same project) must find exactly that process again. The pid alone is not trusted: a pid
can be reused after a crash, so a process only counts as ours if it is alive and its
command line is localcloud's. The server gets a scrubbed AWS environment (placeholder
keys, no profile, no config files): it and the jobs it runs must never hold real
credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sagestack.errors import SagestackError

DEFAULT_PORT = 4566
HOST = "127.0.0.1"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
_PROJECT_MARKERS = ("pyproject.toml", ".git")
_AWS_ENV_DROPPED = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "LOCALCLOUD_AWS_ENDPOINT",
)  # fmt: skip


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding pyproject.toml or .git (else `start`)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
            return folder
    return here


@dataclass(frozen=True)
class CloudPaths:
    """The files of one project's background localcloud."""

    root: Path

    @classmethod
    def for_project(cls, start: Path | None = None) -> CloudPaths:
        return cls(project_root(start) / ".localcloud")

    @property
    def pid_file(self) -> Path:
        return self.root / "localcloud.pid"

    @property
    def state_file(self) -> Path:
        return self.root / "localcloud.json"

    @property
    def log_file(self) -> Path:
        return self.root / "localcloud.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"


@dataclass(frozen=True)
class Running:
    """A localcloud process started by `sagestack up`."""

    pid: int
    port: int
    url: str
    started_at: float


def url_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """localcloud's health document at `url`, or None if nothing (or not localcloud) answers there."""
    try:
        with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=timeout) as response:
            if response.status != 200:
                return None
            body = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return body if isinstance(body, dict) and body.get("status") == "ready" else None


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (zombies count as gone; a child of ours is reaped here)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _command_line(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    try:  # macOS and other systems without /proc
        return subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                              timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def is_localcloud(pid: int) -> bool:
    return pid_alive(pid) and "localcloud" in _command_line(pid)


def find(paths: CloudPaths) -> Running | None:
    """The running localcloud recorded in `paths`, or None (stale files are removed)."""
    try:
        state = json.loads(paths.state_file.read_text())
        running = Running(int(state["pid"]), int(state["port"]), str(state["url"]), float(state["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        running = None
    if running is None or not is_localcloud(running.pid):
        _forget(paths)
        return None
    return running


def _forget(paths: CloudPaths) -> None:
    for file in (paths.pid_file, paths.state_file):
        file.unlink(missing_ok=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def server_environment() -> dict[str, str]:
    """The environment for the server: the caller's, minus anything that could hold real AWS access."""
    env = {k: v for k, v in os.environ.items() if k not in _AWS_ENV_DROPPED and not k.startswith("AWS_ENDPOINT_URL_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def launch(paths: CloudPaths, port: int) -> Running:
    """Start `python -m localcloud` detached (own session) and record it; does not wait."""
    if not 1 <= port <= 65535:
        raise SagestackError(f"--port must be between 1 and 65535, not {port}")
    if not port_free(port):
        raise SagestackError(f"port {port} on {HOST} is in use by another program; choose another with --port")
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with paths.log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "--host", HOST, "--port", str(port),
             "--data-dir", str(paths.data_dir)],
            cwd=paths.root.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=server_environment(), start_new_session=True,
        )
    running = Running(proc.pid, port, url_for(port), time.time())
    paths.pid_file.write_text(f"{proc.pid}\n")
    paths.state_file.write_text(json.dumps(asdict(running), indent=2) + "\n")
    return running


def log_tail(paths: CloudPaths, lines: int = 15) -> str:
    try:
        return "\n".join(paths.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(paths: CloudPaths, running: Running, tick: Callable[[float], None],
               timeout: float = START_TIMEOUT) -> float:
    """Wait until the server answers its health check; return the seconds it took.

    On failure (the process died, or no answer within `timeout`) the process is stopped
    and the error carries the last lines of its log.
    """
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if health(running.url, timeout=1.0):
            return elapsed
        if not pid_alive(running.pid):
            _forget(paths)
            tail = log_tail(paths)
            raise SagestackError(f"localcloud exited during start; see {paths.log_file}" +
                                 (f"; last line: {tail.splitlines()[-1]}" if tail else ""))
        if elapsed > timeout:
            stop(paths, running)
            raise SagestackError(f"localcloud did not answer within {timeout:.0f} s; see {paths.log_file}")
        tick(elapsed)
        time.sleep(0.1)


def stop(paths: CloudPaths, running: Running, timeout: float = STOP_TIMEOUT,
         tick: Callable[[float], None] | None = None) -> bool:
    """SIGTERM the server (it stops its own children) and wait until it is gone.

    Returns False if it had to be killed (SIGKILL to its whole process group) after `timeout`.
    """
    started = time.monotonic()
    graceful = True
    with contextlib.suppress(ProcessLookupError):
        os.kill(running.pid, signal.SIGTERM)
    while pid_alive(running.pid):
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            graceful = False
            _kill_group(running.pid)
            deadline = time.monotonic() + 10
            while pid_alive(running.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            break
        if tick:
            tick(elapsed)
        time.sleep(0.1)
    _forget(paths)
    return graceful


def _kill_group(pgid: int) -> None:
    """The server was started as a session leader, so its group is exactly it and its children."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
