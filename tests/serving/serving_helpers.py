"""Running `python -m modelserver serve` as a real process on 127.0.0.1 and talking HTTP to it."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import free_port as free_port  # re-exported for the serving tests
from support import wait_until as wait_until

from training.preprocess import FEATURES as PREPROCESS_FEATURES

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 90.0  # a cold start compiles numpy/sklearn byte code on a slow 2-core machine

TAXI_FEATURES = list(PREPROCESS_FEATURES)  # the taxi model's inputs, in training/preprocess.py's order


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    # Cache byte code outside the venv so each server start does not recompile scikit-learn.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "sagestack-pycache"))
    for name in list(env):
        if name.startswith(("SAGEMAKER_", "SM_", "MODELSERVER_", "SAGESTACK_MODEL")):
            del env[name]
    env.update(extra or {})
    return env


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def serve_argv(program: str, submit_dir: Path, model_dir: Path, port: int, extra: Sequence[str] = ()) -> list[str]:
    return [
        PYTHON, "-m", "modelserver", "serve", "--port", str(port), "--program", program,
        "--submit-dir", str(submit_dir), "--model-dir", str(model_dir), *extra,
    ]  # fmt: skip


class ModelServer:
    """A running server process (own process group); `stop()` ends it and its workers."""

    def __init__(
        self,
        program: str,
        submit_dir: Path,
        model_dir: Path,
        log_dir: Path,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ):
        # Port 0: the server binds a free port itself and logs it, so no other process can take
        # the port between our choosing it and the server binding it.
        self.port = 0
        self.model_dir = model_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{id(self)}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            serve_argv(program, submit_dir, model_dir, 0, extra),
            cwd=ROOT,
            env=child_env(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        bound = wait_until(lambda: self._bound_port() or self.proc.poll() is not None, START_TIMEOUT)
        if bound is True or not bound:
            self.stop()
            raise RuntimeError(f"model server did not start:\n{self.log()[-3000:]}")
        self.port = bound
        if not wait_until(lambda: self.healthy() or self.proc.poll() is not None, START_TIMEOUT) or not self.healthy():
            self.stop()
            raise RuntimeError(f"model server did not answer /ping:\n{self.log()[-3000:]}")

    def _bound_port(self) -> int | None:
        found = re.search(r" on http://127\.0\.0\.1:(\d+) with ", self.log())
        return int(found.group(1)) if found else None

    def healthy(self) -> bool:
        try:
            return self.request("GET", "/ping", timeout=2).status == 200
        except OSError:
            return False

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Answer:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
        finally:
            conn.close()

    def invoke(self, body: bytes | str, content_type: str | None = "text/csv", accept: str | None = None) -> Answer:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        data = body.encode() if isinstance(body, str) else body
        return self.request("POST", "/invocations", data, headers)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()


def run_to_exit(
    program: str, submit_dir: Path, model_dir: Path, extra: Sequence[str] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Start a server that is expected to fail at start-up; its exit status and output."""
    return subprocess.run(
        serve_argv(program, submit_dir, model_dir, free_port(), extra),
        cwd=ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def write_program(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(source)
    return path


def write_taxi_model_dir(directory: Path, model: Any) -> str:
    """A model directory in training/train.py's contract; returns the artifact's sha256."""
    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / "model.joblib")
    digest = hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    card = {
        "feature_names": TAXI_FEATURES,
        "target": "duration_minutes",
        "model_sha256": digest,
        "hyperparameters": {"n_estimators": 10, "max_depth": 6},
        "metrics": {"rmse": 1.0},
    }
    (directory / "model.json").write_text(json.dumps(card))
    return digest
