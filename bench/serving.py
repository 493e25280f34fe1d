"""Serving benchmark: our model server against `mlflow models serve`, same model, same run.

    .venv/bin/python bench/serving.py [--seconds 5] [--skip-mlflow] [--strict]

What it does (about 2 minutes on 2 cores):

1. trains the reference model, ``RandomForestRegressor(n_estimators=50, max_depth=8)`` on 10
   synthetic numeric features (fixed seed), and saves it three ways: for our server with the
   framework's default handlers (the program defines only ``model_fn``), as an MLflow sklearn
   model, and in the model.json contract served by the taxi hooks (inference/inference.py);
2. starts each server on a free 127.0.0.1 port (one at a time, so they never share the CPU),
   checks its answers against ``model.predict`` run here, then drives it with a small asyncio
   load generator over keep-alive HTTP/1.1 connections (closed loop: each connection sends its
   next request when the previous answer arrives): single-row CSV at concurrency 1 and 16, and
   1,000-row CSV batches at concurrency 1;
3. prints requests/s, p50 and p99 latency per server and scenario, with the targets and
   PASS/MISS for ours.

Every process it starts runs in its own process group and is stopped on the way out, on errors
and on Ctrl-C alike. Numbers are as good as the machine is quiet: the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from localcloud.launcher import free_port
from training.preprocess import FEATURES as PREPROCESS_FEATURES

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SEED = 0
FEATURES = list(PREPROCESS_FEATURES)  # the taxi model's inputs, in training/preprocess.py's order
DEFAULT_PROGRAM = """\
import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


# ------------------------------------------------------------------------------------------- models


def synthetic_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Taxi-like features with realistic precision (CSV bodies look like real ones)."""
    hour = rng.integers(0, 24, n)
    weekday = rng.integers(0, 7, n)
    angle = 2 * np.pi * (hour + rng.random(n)) / 24
    return np.column_stack(
        [
            np.round(rng.gamma(2.0, 1.6, n), 2),
            rng.integers(1, 264, n),
            rng.integers(1, 264, n),
            rng.integers(1, 5, n),
            hour,
            weekday,
            (weekday >= 5).astype(int),
            np.round(np.sin(angle), 6),
            np.round(np.cos(angle), 6),
            (rng.random(n) < 0.08).astype(int),
        ]
    ).astype(np.float64)


def build_models(workdir: Path, with_mlflow: bool) -> tuple[object, np.ndarray]:
    import joblib
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(SEED)
    X = synthetic_rows(rng, 20_000)
    y = 4 + 3.2 * X[:, 0] + 2.5 * np.abs(X[:, 7]) + 6 * X[:, 9] + rng.normal(0, 1.5, len(X))
    model = RandomForestRegressor(n_estimators=50, max_depth=8, random_state=SEED).fit(X, y)

    default_dir = workdir / "default"
    (default_dir / "model").mkdir(parents=True)
    (default_dir / "code").mkdir()
    joblib.dump(model, default_dir / "model" / "model.joblib")
    (default_dir / "code" / "serve_default.py").write_text(DEFAULT_PROGRAM)

    taxi_model = workdir / "taxi" / "model"
    taxi_model.mkdir(parents=True)
    joblib.dump(model, taxi_model / "model.joblib")
    digest = hashlib.sha256((taxi_model / "model.joblib").read_bytes()).hexdigest()
    card = {
        "feature_names": FEATURES,
        "target": "duration_minutes",
        "model_sha256": digest,
        "hyperparameters": {"n_estimators": 50, "max_depth": 8},
        "metrics": {},
    }
    (taxi_model / "model.json").write_text(json.dumps(card, indent=2))

    if with_mlflow:
        import mlflow.sklearn

        # MLflow's default (skops) format asks us to vouch for the tree type: we built it here.
        mlflow.sklearn.save_model(model, str(workdir / "mlflow_model"), skops_trusted_types=["sklearn.tree._tree.Tree"])
    return model, synthetic_rows(np.random.default_rng(SEED + 1), 2_000)


# ---------------------------------------------------------------------------------------- processes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    # Byte-code cache outside the venv: servers start in ~2 s instead of ~6 s on later runs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "sagestack-pycache"))
    env["MLFLOW_TRACKING_URI"] = "file:" + str(Path(tempfile.gettempdir()) / "sagestack-bench-mlruns")
    return env


class Server:
    """A server process in its own process group; stop() ends the whole group."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None):
        self.name, self.port = name, port
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or child_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if not self.port:  # started with --port 0: the server logs the port it bound
                found = re.search(r" on http://127\.0\.0\.1:(\d+) with ", self.log_path.read_text(errors="replace"))
                self.port = int(found.group(1)) if found else 0
                if not self.port:
                    time.sleep(0.1)
                    continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /ping within {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        else:  # the leader is gone; make sure nothing it started lingers
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


@contextmanager
def running(server_factory) -> Iterator[Server]:
    server = server_factory()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------ load generator


class _Connection(asyncio.Protocol):
    """One keep-alive connection in a closed loop: send, wait for the whole answer, send again."""

    def __init__(self, requests: list[bytes], run: _Run):
        self.requests, self.run = requests, run
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.index = 0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        request = self.requests[self.index % len(self.requests)]
        self.index += 1
        self.sent_at = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        if at < 0:
            self.run.errors += 1
            self._finish()
            return
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        now = time.perf_counter()
        if head[9:12] != b"200":
            self.run.errors += 1
            if self.run.first_error is None:
                self.run.first_error = bytes(self.buffer[: end + 4 + length])[:300]
        elif self.sent_at >= self.run.measure_from:
            self.run.latencies.append(now - self.sent_at)
        del self.buffer[: end + 4 + length]
        if now < self.run.stop_at:
            self._send()
        else:
            self._finish()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class _Run:
    measure_from: float
    stop_at: float
    latencies: list[float]
    errors: int = 0
    first_error: bytes | None = None


@dataclass
class Result:
    server: str
    scenario: str
    rps: float
    p50: float
    p99: float
    errors: int
    requests: int


async def _drive(port: int, requests: list[bytes], concurrency: int, seconds: float, warmup: float) -> _Run:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(measure_from=start + warmup, stop_at=start + warmup + seconds, latencies=[])
    connections = []
    for k in range(concurrency):
        rotated = requests[k:] + requests[:k]
        _, protocol = await loop.create_connection(lambda r=rotated: _Connection(r, run), "127.0.0.1", port)
        connections.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in connections)), warmup + seconds + 60)
    return run


def measure(server: str, scenario: str, port: int, requests: list[bytes], concurrency: int, seconds: float) -> Result:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is part of uvicorn[standard]
        runner = asyncio.run
    gc.collect()
    gc.disable()
    try:
        run = runner(_drive(port, requests, concurrency, seconds, warmup=min(1.0, seconds / 4)))
    finally:
        gc.enable()
    latencies = np.array(run.latencies) * 1000
    if run.first_error:
        print(f"  {server} / {scenario}: first error answer: {run.first_error!r}", file=sys.stderr)
    if not len(latencies):
        return Result(server, scenario, 0.0, float("nan"), float("nan"), run.errors, 0)
    return Result(
        server,
        scenario,
        len(latencies) / seconds,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
        run.errors,
        len(latencies),
    )


def http_request(body: bytes, content_type: str = "text/csv", accept: str = "text/csv") -> bytes:
    return (
        b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nAccept: %s\r\n"
        b"Content-Length: %d\r\n\r\n" % (content_type.encode(), accept.encode(), len(body))
    ) + body


def csv_lines(rows: np.ndarray) -> list[bytes]:
    return [",".join(map(repr, row)).encode() for row in rows.tolist()]


def post(port: int, body: bytes, content_type: str, accept: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": content_type, "Accept": accept},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.read()


# ---------------------------------------------------------------------------------------- scenarios

SCENARIOS = ("1 row, c=1", "1 row, c=16", "1000 rows, c=1")
TARGETS = {
    "1 row, c=1": ("req/s >= 450", lambda r: r.rps >= 450),
    "1 row, c=16": ("req/s >= 1800, p99 <= 10 ms", lambda r: r.rps >= 1800 and r.p99 <= 10),
    "1000 rows, c=1": ("p50 <= 6 ms", lambda r: r.p50 <= 6),
}


def scenario_requests(rows: np.ndarray, header: str | None) -> dict[str, list[bytes]]:
    lines = csv_lines(rows)
    prefix = (header + "\n").encode() if header else b""
    single = [http_request(prefix + line) for line in lines[:256]]
    batches = [http_request(prefix + b"\n".join(lines[i : i + 1000])) for i in (0, 1000)]
    return {"1 row, c=1": single, "1 row, c=16": single, "1000 rows, c=1": batches}


def bench_server(name: str, port: int, requests: dict[str, list[bytes]], seconds: float) -> list[Result]:
    plan = {"1 row, c=1": (1, seconds), "1 row, c=16": (16, seconds), "1000 rows, c=1": (1, seconds * 0.7)}
    results = []
    for scenario in SCENARIOS:
        concurrency, duration = plan[scenario]
        result = measure(name, scenario, port, requests[scenario], concurrency, duration)
        print(
            f"  {name:<28} {scenario:<15} {result.rps:8.0f} req/s  p50 {result.p50:6.2f} ms  p99 {result.p99:6.2f} ms"
        )
        results.append(result)
    return results


def check_answers(name: str, port: int, rows: np.ndarray, expected: np.ndarray, body_prefix: bytes, parse) -> None:
    body = body_prefix + b"\n".join(csv_lines(rows))
    got = np.asarray(parse(post(port, body, "text/csv", "text/csv" if parse is parse_csv else "application/json")))
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
        raise RuntimeError(f"{name} answered {got[:3]}... but model.predict gives {expected[:3]}...")


def parse_csv(body: bytes) -> list[float]:
    return [float(v) for v in body.split()]


def parse_mlflow(body: bytes) -> list[float]:
    return json.loads(body)["predictions"]


# ------------------------------------------------------------------------------------------- report


def predict_cost(model, rows: np.ndarray) -> tuple[float, float]:
    """p50 ms of model.predict alone for 1 and 1,000 rows, in this process: the floor under the
    serving numbers, and a gauge of how fast (or busy) this machine is right now."""
    import warnings

    out = []
    with warnings.catch_warnings():
        warnings.resetwarnings()  # the filter list the server runs with (modelserver/README.md, Speed)
        warnings.simplefilter("ignore")
        for batch, repeat in ((rows[:1], 300), (rows[:1000], 60)):
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                model.predict(batch)
                times.append(time.perf_counter() - start)
            out.append(float(np.median(times[10:])) * 1000)
    return out[0], out[1]


def report(results: list[Result], seconds: float, floor: tuple[float, float]) -> bool:
    print()
    print(f"Serving benchmark: RandomForestRegressor(n_estimators=50, max_depth=8), 10 features, {seconds:g} s per run")
    print(
        f"host: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(f"model.predict alone (p50, in-process): 1 row {floor[0]:.2f} ms, 1000 rows {floor[1]:.2f} ms")
    header = f"{'server':<30} {'scenario':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  target"
    print(header)
    print("-" * (len(header) + 34))
    ok = True
    for r in results:
        target, verdict = "", ""
        if r.server.startswith("modelserver") and "taxi" not in r.server:
            label, check = TARGETS[r.scenario]
            passed = check(r) and r.errors == 0
            ok = ok and passed
            target, verdict = label, "PASS" if passed else "MISS"
        print(
            f"{r.server:<30} {r.scenario:<16} {r.rps:8.0f} {r.p50:8.2f} {r.p99:8.2f} {r.errors:7d}  "
            f"{target:<28} {verdict}"
        )
    return ok


def our_server(name: str, program: str, submit_dir: Path, model_dir: Path, log: Path, workers: int) -> Server:
    port = 0  # the server picks a free port and logs it (no race with other processes)
    argv = [PYTHON, "-m", "modelserver", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--program", program]
    argv += ["--submit-dir", str(submit_dir), "--model-dir", str(model_dir)]
    return Server(name, argv, port, log)


def mlflow_server(model_uri: Path, log: Path) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "mlflow", "models", "serve", "-m", str(model_uri)]
    argv += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    return Server("mlflow", argv, port, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per single-row scenario")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave out mlflow models serve")
    parser.add_argument("--skip-taxi", action="store_true", help="leave out the taxi hooks")
    parser.add_argument("--workers", type=int, default=1, help="our server's worker processes")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="sagestack-bench-") as tmp:
        work = Path(tmp)
        print("training the reference model ...")
        model, rows = build_models(work, with_mlflow=not args.skip_mlflow)
        expected = model.predict(rows[:20])
        floor = predict_cost(model, rows)
        plain = scenario_requests(rows, header=None)

        print("modelserver (default handlers) ...")
        default = work / "default"
        with running(
            lambda: our_server(
                "modelserver", "serve_default.py", default / "code", default / "model", work / "ours.log", args.workers
            )
        ) as server:
            server.wait_ready(90)
            check_answers("modelserver", server.port, rows[:20], expected, b"", parse_csv)
            results += bench_server("modelserver", server.port, plain, args.seconds)

        if not args.skip_mlflow:
            print("mlflow models serve --env-manager local ...")
            header = ",".join(str(i) for i in range(10))  # MLflow's CSV input needs a header row
            with running(lambda: mlflow_server(work / "mlflow_model", work / "mlflow.log")) as server:
                server.wait_ready(120)
                check_answers("mlflow", server.port, rows[:20], expected, (header + "\n").encode(), parse_mlflow)
                requests = scenario_requests(rows, header=header)
                results += bench_server("mlflow models serve", server.port, requests, args.seconds)

        if not args.skip_taxi:
            print("modelserver + taxi hooks (inference/inference.py) ...")
            taxi = work / "taxi" / "model"
            with running(
                lambda: our_server("taxi", "inference.py", ROOT / "inference", taxi, work / "taxi.log", args.workers)
            ) as server:
                server.wait_ready(90)
                check_answers("taxi hooks", server.port, rows[:20], expected, b"", parse_csv)
                results += bench_server("modelserver + taxi hooks", server.port, plain, args.seconds)

    ok = report(results, args.seconds, floor)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every server it started was stopped", file=sys.stderr)
        sys.exit(130)
