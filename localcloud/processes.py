"""Every child process localcloud starts (jobs, model servers) is registered here.

Each child gets its own process group so a stop can take down its whole subtree, and
the server can end them all when it receives SIGTERM or a `/moto-api/reset`; a lifeline process
(`localcloud.lifeline`) ends them if the server dies without doing so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

from localcloud import lifeline
from localcloud.lifeline import Lifeline

_children: set[subprocess.Popen] = set()
_lock = threading.Lock()
_lifeline: Lifeline | None = None


def start_lifeline() -> None:
    """From now on every child is also watched by a lifeline process (`localcloud.lifeline`)."""
    global _lifeline
    if _lifeline is None:
        _lifeline = lifeline.start()


def stop_lifeline() -> None:
    global _lifeline
    if _lifeline is not None:
        _lifeline.close()
        _lifeline = None


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """Start a child in a new session (its own process group) and track it."""
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    with _lock:
        _children.add(proc)
    if _lifeline is not None:
        _lifeline.watch(proc.pid)
    return proc


def forget(proc: subprocess.Popen) -> None:
    with _lock:
        known = proc in _children
        _children.discard(proc)
    if known and _lifeline is not None:
        _lifeline.forget(proc.pid)


def terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        proc.wait()
    forget(proc)


def terminate_all(grace: float = 5.0) -> None:
    """End every tracked child: all get SIGTERM at once, stragglers SIGKILL."""
    with _lock:
        procs = list(_children)
    for proc in procs:
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()
        forget(proc)


def signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the child's whole process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
