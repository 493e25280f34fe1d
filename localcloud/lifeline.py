"""Children die with localcloud, however it dies: a watchdog process holding the other end of a pipe.

localcloud starts jobs and model servers in process groups of their own (so a stop can take a
whole subtree down). On SIGTERM or Ctrl-C it ends them itself; but a SIGKILL, an out-of-memory
kill or a crash leaves them running, holding ports and CPU. `PR_SET_PDEATHSIG` does not help: it
fires when the *thread* that forked exits, and localcloud forks from short-lived worker threads.

So at start localcloud runs this file as a tiny separate process (stdlib only, in a session of
its own, so a signal to localcloud's group does not reach it) and tells it, through a pipe, each
process group it starts (`+<pgid>`) and each one that has ended (`-<pgid>`). When the pipe reaches
end of file, localcloud is gone, however that happened: the lifeline sends SIGTERM to every group
still listed, SIGKILL after a grace period, and exits. The pipe's write end is not inheritable, so
no child can keep it open by accident.

What this cannot cover: a child started in the instant between its fork and its registration, and
a child that leaves its process group on purpose (setsid).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO

__all__ = ["Lifeline", "start"]

GRACE_SECONDS = 3.0


class Lifeline:
    """localcloud's end of the pipe."""

    def __init__(self, proc: subprocess.Popen, pipe: IO[str]):
        self.proc = proc
        self._pipe = pipe
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self._pipe.write(line + "\n")
                self._pipe.flush()
            except (OSError, ValueError):  # the lifeline is gone or closed: nothing to tell
                pass

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        """An orderly end: localcloud has stopped its children itself; the lifeline exits."""
        with self._lock, contextlib.suppress(OSError):
            self._pipe.close()
        try:
            self.proc.wait(GRACE_SECONDS + 2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start() -> Lifeline:
    """Start the lifeline process for this localcloud process."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            text=True, close_fds=True)
    assert proc.stdin is not None
    return Lifeline(proc, proc.stdin)


# --------------------------------------------------------------------------------------------- the watchdog


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _watch() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is localcloud's to handle
    groups: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if len(line) > 1 and line[1:].isdigit():
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    live = [g for g in groups if _alive(g)]
    for pgid in live:
        _signal(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [g for g in live if _alive(g)]
    for pgid in live:
        _signal(pgid, signal.SIGKILL)


if __name__ == "__main__":
    _watch()
