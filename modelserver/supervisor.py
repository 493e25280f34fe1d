"""Pre-fork supervision for SAGEMAKER_MODEL_SERVER_WORKERS > 1.

The model is loaded once in this (master) process, then each worker is forked with it already in
memory (copy-on-write, so N workers do not cost N model loads, and a model_fn failure is reported
once, before any worker exists). The master only waits: it restarts a worker that dies, gives up
(exit 1) if workers keep dying, and on SIGTERM/SIGINT stops them gracefully. Workers die with the
master (PR_SET_PDEATHSIG), so a SIGKILLed master never leaves orphans holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections import deque
from typing import Any

from modelserver import worker
from modelserver.settings import Settings
from modelserver.user_code import Hooks

log = logging.getLogger("modelserver")

_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_MAX_RESTARTS = 5  # within _RESTART_WINDOW seconds, then the master gives up
_RESTART_WINDOW = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the orphan check below still applies
        pass
    if os.getppid() != parent:  # the master died before prctl took effect
        os._exit(1)


def _child(sock: socket.socket, hooks: Hooks, model: Any, settings: Settings, parent: int) -> None:
    code = 0
    try:
        worker.install_stop_handlers()  # before unblocking: a SIGTERM already pending lands there
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        _die_with_parent(parent)
        worker.run(sock, hooks, model, settings)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(sock: socket.socket, hooks: Hooks, model: Any, settings: Settings) -> int:
    """Run settings.workers forked workers until told to stop; the process exit code."""
    master = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    children: dict[int, int] = {}
    restarts: deque[float] = deque()

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            _child(sock, hooks, model, settings, master)
        children[pid] = slot

    for first_slot in range(settings.workers):
        spawn(first_slot)
    grace = min(settings.timeout, 30) + 5
    stopping_since: float | None = None
    exit_code = 0

    def stop_all(sig: int) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    while children:
        received = signal.sigtimedwait(_SIGNALS, 1.0)
        if received is not None and received.si_signo != signal.SIGCHLD and stopping_since is None:
            log.info("stopping %d worker(s) on %s", len(children), signal.Signals(received.si_signo).name)
            stopping_since = time.monotonic()
            stop_all(signal.SIGTERM)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            slot = children.pop(pid, None)
            if slot is None or stopping_since is not None:
                continue
            now = time.monotonic()
            restarts.append(now)
            while restarts and now - restarts[0] > _RESTART_WINDOW:
                restarts.popleft()
            log.error("worker %d exited (%s)", pid, _describe(status))
            if len(restarts) > _MAX_RESTARTS:
                log.error("workers keep dying (%d exits in %.0f s); giving up", len(restarts), _RESTART_WINDOW)
                exit_code = 1
                stopping_since = now
                stop_all(signal.SIGTERM)
            else:
                spawn(slot)
        if stopping_since is not None and time.monotonic() - stopping_since > grace:
            stop_all(signal.SIGKILL)
    sock.close()
    return exit_code


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
