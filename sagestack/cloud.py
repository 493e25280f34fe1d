"""Run localcloud in the background for a project: start, find, stop.

Why a pid file and a state file under `<project>/.localcloud/`: `sagestack up` returns at
once while the server keeps running, so a later `sagestack down` (from any folder of the
same project) must find exactly that process again. The pid alone is not trusted: a pid
can be reused after a crash, so a process only counts as ours if it is alive and its
command line is localcloud's. Starting and stopping are localcloud's own launcher's
(`localcloud.launcher`: a scrubbed environment, its own process group); this module only
keeps the record.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from localcloud import launcher
from sagestack.errors import SagestackError

DEFAULT_PORT = 4566
HOST = launcher.HOST
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
_PROJECT_MARKERS = ("pyproject.toml", ".git")


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
    return launcher.pid_alive(pid) and "localcloud" in _command_line(pid)


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
    """Whether localcloud could listen on `port` now (it sets SO_REUSEADDR, so connections a stopped
    server left in TIME_WAIT do not count: `down` then `up` on the same port works at once)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def launch(paths: CloudPaths, port: int, timeout: float, tick: Callable[[float], None]) -> tuple[Running, float]:
    """Start localcloud on `port`, detached, wait until it answers and record it; (it, seconds taken)."""
    if not port_free(port):
        raise SagestackError(f"port {port} on {HOST} is in use by another program; choose another with --port")
    started = time.monotonic()
    try:
        server = launcher.LocalCloud.start(paths.data_dir, port=port, log_path=paths.log_file, cwd=paths.root.parent,
                                           timeout=timeout, on_wait=tick)
    except launcher.LaunchError:
        tail = log_tail(paths)
        raise SagestackError(f"localcloud did not start; see {paths.log_file}" +
                             (f"; last line: {tail.splitlines()[-1]}" if tail else "")) from None
    running = Running(server.pid, server.port, server.url, time.time())
    paths.pid_file.write_text(f"{server.pid}\n")
    paths.state_file.write_text(json.dumps(asdict(running), indent=2) + "\n")
    return running, time.monotonic() - started


def log_tail(paths: CloudPaths, lines: int = 15) -> str:
    try:
        return "\n".join(paths.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(paths: CloudPaths, running: Running, timeout: float = STOP_TIMEOUT,
         tick: Callable[[float], None] | None = None) -> bool:
    """Stop the server and everything it started; False if it had to be killed after `timeout`."""
    graceful = launcher.stop_process(running.pid, timeout, tick)
    _forget(paths)
    return graceful
