"""Helpers shared by test suites: waiting on conditions, raw sockets, processes under a folder.

A real localcloud comes from localcloud's own launcher (and, as the `localcloud` fixture, from its
pytest plugin); `LocalCloud` and `free_port` are re-exported here for the suites' imports.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from localcloud.launcher import LocalCloud as LocalCloud
from localcloud.launcher import free_port as free_port

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


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
