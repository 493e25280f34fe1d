"""Where every piece of work localcloud runs starts and stops: one lifecycle for all of it.

A processing, training or transform job, a pipeline execution, an endpoint being deployed or
updated, a CloudFormation stack operation (and what later adds: monitoring jobs, deployments,
functions) is a `Work`; each backend that runs work has one engine. Its record
(moto's Fake* object) says what a caller sees; the work knows how to run to its end and to
write the outcome on the record. The engine owns everything else, once:

- start: the work runs on a thread of its own (`submit`) or on the caller's (`run`, for a step
  that runs a job inside a pipeline execution), registered under its key (its ARN);
- stop: `stop(key)` sets the work's stop event; the work ends as Stopped when it sees it;
- crash: an exception the work did not turn into an outcome is a bug of ours: the traceback goes
  to localcloud's log and the record says Failed with an InternalServerError reason, never a
  reason that blames the caller;
- reset and shutdown: `stop_all` stops everything and waits for it;
- restart (a snapshot restored): work cannot resume in a new process; each backend's `restored`
  marks what was running as ended with `RESTART_REASON`.

`lock` is held by callers that check a record and change it in one step (start, stop, retry),
so that two concurrent requests can never both start the same work.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

log = logging.getLogger("localcloud.engine")

INTERNAL = "InternalServerError"
RESTART_REASON = "localcloud restarted while this was running"
"""What a record says of work a restart interrupted (see `localcloud.persistence`)."""


class Work(ABC):
    """One piece of work: its key, how it runs, and what its record says when it could not finish."""

    key: str
    """The record's ARN: at most one run of it at a time."""

    @abstractmethod
    def run(self, stop: threading.Event) -> None:
        """Run to the end (blocking), writing the outcome on the record; end early once `stop` is set."""

    @abstractmethod
    def crashed(self, reason: str) -> None:
        """Record that the work ended Failed for `reason` (an error of localcloud's, not the caller's)."""


def internal_error(error: BaseException) -> str:
    return f"{INTERNAL}: localcloud failed ({type(error).__name__}: {error}); the traceback is in its log"


@dataclass
class _Running:
    work: Work
    stop: threading.Event
    thread: threading.Thread


class Engine:
    """The work of one backend (one account and region)."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.RLock()
        self._running: dict[str, _Running] = {}

    # ------------------------------------------------------------------------------- starting
    def submit(self, work: Work) -> threading.Event:
        """Run `work` on a thread of its own; returns its stop event."""
        stop = threading.Event()
        thread = threading.Thread(target=self._execute, args=(work, stop), daemon=True,
                                  name=f"{self.name}-{work.key.rsplit('/', 1)[-1]}")
        with self.lock:
            self._running[work.key] = _Running(work, stop, thread)
        thread.start()
        return stop

    def run(self, work: Work, stop: threading.Event) -> None:
        """Run `work` on this thread (inside other work, which passes its own stop event)."""
        with self.lock:
            self._running[work.key] = _Running(work, stop, threading.current_thread())
        self._execute(work, stop)

    def _execute(self, work: Work, stop: threading.Event) -> None:
        try:
            work.run(stop)
        except Exception as e:  # a bug of ours: the record says so, the server lives on
            log.exception("%s %s failed inside localcloud", type(work).__name__, work.key)
            try:
                work.crashed(internal_error(e))
            except Exception:
                log.exception("recording the failure of %s failed too", work.key)
        finally:
            with self.lock:
                running = self._running.get(work.key)
                if running is not None and running.work is work:
                    del self._running[work.key]

    # ------------------------------------------------------------------------------- stopping
    def stop(self, key: str) -> bool:
        """Ask the running work under `key` to stop; False when nothing runs under it."""
        with self.lock:
            running = self._running.get(key)
        if running is None:
            return False
        running.stop.set()
        return True

    def busy(self) -> bool:
        """Whether any work runs."""
        with self.lock:
            return bool(self._running)

    def active(self, key: str) -> bool:
        with self.lock:
            return key in self._running

    def thread_of(self, key: str) -> threading.Thread | None:
        """The thread of the work now running under `key` (to wait for a run that is ending)."""
        with self.lock:
            running = self._running.get(key)
        return running.thread if running is not None else None

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every piece of work and wait for each (reset, shutdown)."""
        with self.lock:
            running = list(self._running.values())
        for item in running:
            item.stop.set()
        for item in running:
            if item.thread is not threading.current_thread():
                item.thread.join(timeout)
