"""SAGEMAKER_MODEL_SERVER_WORKERS > 1: forked workers share one port and are supervised."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving_helpers import ROOT, ModelServer, child_env, serve_argv, wait_until, write_program

PID_MODEL = textwrap.dedent(
    """
    import os

    import numpy as np


    class WhoAmI:
        def predict(self, X):
            return np.full(len(X), os.getpid(), dtype=float)


    def model_fn(model_dir):
        return WhoAmI()
    """
)


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    code = tmp_path_factory.mktemp("workers")
    write_program(code, "whoami.py", PID_MODEL)
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    server = ModelServer("whoami.py", code, code, code, env=env)
    yield server
    server.stop()


def answering_pids(server: ModelServer, requests: int = 32) -> set[int]:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: server.invoke("1,2,3"), range(requests)))
    assert all(a.status == 200 and a.headers["content-type"] == "text/csv" for a in answers)
    return {int(float(a.text)) for a in answers}


def test_two_workers_share_the_port(two_workers: ModelServer) -> None:
    workers = wait_until(
        lambda: children(two_workers.proc.pid) if len(children(two_workers.proc.pid)) == 2 else None, 10
    )
    assert workers and len(workers) == 2
    seen: set[int] = set()
    assert wait_until(lambda: seen.update(answering_pids(two_workers)) or seen == workers, 20), (seen, workers)


def test_a_dead_worker_is_replaced(two_workers: ModelServer) -> None:
    master = two_workers.proc.pid
    before = children(master)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(lambda: len(children(master)) == 2 and victim not in children(master), 30)
    assert replaced, children(master)
    assert answering_pids(two_workers) <= children(master)
    assert "exited (killed by SIGKILL)" in two_workers.log()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_is_a_clean_stop(tmp_path: Path, workers: int) -> None:
    write_program(tmp_path, "whoami.py", PID_MODEL)
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)}
    server = ModelServer("whoami.py", tmp_path, tmp_path, tmp_path, env=env)
    forked: set[int] = set()
    if workers > 1:  # one process serves alone; several are forked children of a master
        forked = wait_until(lambda: len(children(server.proc.pid)) == workers and children(server.proc.pid), 10)
        assert forked
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in forked), 10)
    assert "stopped by SIGTERM" in server.log()
    server.stop()


def test_sigterm_during_start_up_still_stops_promptly(tmp_path: Path) -> None:
    """A stop that lands while workers are still starting must not be lost (no 35 s grace wait)."""
    write_program(tmp_path, "whoami.py", PID_MODEL)
    log = tmp_path / "early.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_argv("whoami.py", tmp_path, tmp_path, 0),
            cwd=ROOT,
            env=child_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert wait_until(lambda: "with 2 worker(s)" in log.read_text(), 60), log.read_text()
            proc.send_signal(signal.SIGTERM)  # the workers are being forked right now
            assert proc.wait(15) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
