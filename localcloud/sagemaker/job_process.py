"""Run a job's process to its end: stream its output, honour stop and MaxRuntime.

A container's life ends with its main process, so the job's process runs in its own
session (process group) and the whole group is torn down when it exits, is stopped or
runs out of time: SIGTERM first (SageMaker gives 120 s to save a model), SIGKILL after a
grace period. Output is read from both pipes in this thread with a selector, so no
helper threads are needed and stdout/stderr lines keep their arrival order.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from localcloud import processes

__all__ = ["ProcessResult", "run_supervised"]

LineSink = Callable[[str, float, bool], None]
"""Called with (line without newline, epoch seconds, came from stderr)."""

_MAX_LINE = 64 * 1024  # a "line" without a newline is cut here so memory stays bounded
_TICK = 0.1  # how often stop and MaxRuntime are checked while the job is quiet


@dataclass
class ProcessResult:
    exit_code: int
    """Container-style: 128 + N when killed by signal N."""
    ended_by: str | None = None
    """None when the process ended by itself; "stop" or "timeout" when we ended it."""
    stderr_tail: list[str] = field(default_factory=list)


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid keeps the group id reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def run_supervised(argv: list[str], *, env: dict[str, str], cwd: str, on_line: LineSink,
                   stop: threading.Event, max_runtime: float | None, grace: float,
                   on_tick: Callable[[], None] | None = None, tail_lines: int = 60) -> ProcessResult:
    """Run `argv` until it exits or we end it; every output line goes to `on_line`.

    `on_tick` runs at least every 0.1 s (e.g. to ship buffered logs while a job is quiet).
    """
    tail: deque[str] = deque(maxlen=tail_lines)

    def emit(raw: bytes, is_err: bool) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if is_err:
            tail.append(line)
        on_line(line, time.time(), is_err)

    try:
        # registered, so a server shutdown ends the job even if nobody sets `stop`
        proc = processes.spawn(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        emit(f"cannot execute {argv[0]}: {e.strerror or e}".encode(), True)
        return ProcessResult(126 if isinstance(e, PermissionError) else 127, None, list(tail))

    started = time.monotonic()
    deadline = started + max_runtime if max_runtime else None
    pending: dict[int, bytearray] = {}
    selector = selectors.DefaultSelector()
    for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
        assert stream is not None
        fd = stream.fileno()
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ, is_err)
        pending[fd] = bytearray()

    ended_by: str | None = None
    term_at: float | None = None
    killed = exited = False
    drain_until = 0.0
    try:
        while True:
            if on_tick is not None:
                on_tick()
            now = time.monotonic()
            if ended_by is None and not exited:
                if stop.is_set():
                    ended_by = "stop"
                elif deadline is not None and now >= deadline:
                    ended_by = "timeout"
                if ended_by:
                    term_at = now
                    processes.signal_group(proc, signal.SIGTERM)
            if term_at is not None and not killed and now - term_at >= grace:
                processes.signal_group(proc, signal.SIGKILL)
                killed = True
            if not exited and _has_exited(proc.pid):
                # The container is gone with its main process: take any stragglers with it.
                exited = True
                processes.signal_group(proc, signal.SIGKILL)
                drain_until = now + 1.0
            if not pending and exited:
                break
            if exited and now > drain_until:
                break  # something escaped the group and still holds a pipe: stop listening

            timeout = _TICK
            if deadline is not None and ended_by is None:
                timeout = min(timeout, max(0.0, deadline - now))
            if not pending:
                stop.wait(min(timeout, 0.02))
                continue
            for key, _ in selector.select(timeout):
                fd, is_err = key.fd, key.data
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                buf = pending[fd]
                if not chunk:
                    if buf:
                        emit(bytes(buf), is_err)
                    selector.unregister(fd)
                    del pending[fd]
                    continue
                buf += chunk
                while True:
                    cut = buf.find(b"\n")
                    if cut < 0:
                        if len(buf) >= _MAX_LINE:
                            emit(bytes(buf[:_MAX_LINE]), is_err)
                            del buf[:_MAX_LINE]
                            continue
                        break
                    emit(bytes(buf[:cut]), is_err)
                    del buf[:cut + 1]
    finally:
        for fd, buf in list(pending.items()):
            if buf:
                emit(bytes(buf), selector.get_key(fd).data)
        selector.close()
        if not exited:
            processes.signal_group(proc, signal.SIGKILL)
        proc.wait()
        processes.forget(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    code = proc.returncode
    return ProcessResult(128 - code if code < 0 else code, ended_by, list(tail))
