"""`make demo`: the taxi-duration model from raw trips to live predictions, on this machine.

Generate a month of TLC-schema trips, run the preprocess, train and evaluate job scripts
under their SageMaker contracts, start the model server with the taxi serving hooks,
send it real HTTP requests, and print what came back. Every process it starts is
stopped when it ends, also on Ctrl-C.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from sagestack import local_run

ROOT = local_run.ROOT
console = Console()


def _phase(title: str) -> float:
    console.rule(f"[bold]{title}")
    return time.perf_counter()


def _done(started: float, detail: str = "") -> None:
    console.print(f"[green]done[/] in {time.perf_counter() - started:.2f} s {detail}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ping(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("model server did not answer /ping in time")


def run(out: Path, trips: int = 30_000, seed: int = 7) -> None:
    from training.datagen import generate_month

    out.mkdir(parents=True, exist_ok=True)
    started = _phase("1. generate a month of trips (NYC TLC yellow-trip schema)")
    raw = out / "raw" / "yellow_tripdata_2024-01.parquet"
    raw.parent.mkdir(parents=True, exist_ok=True)
    generate_month(2024, 1, trips, seed).to_parquet(raw, index=False)
    _done(started, f"{trips:,} trips -> {raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw}")

    started = _phase("2. preprocess (SageMaker Processing contract)")
    processing = out / "processing"
    console.print(local_run.preprocess(raw, processing).strip())
    _done(started)

    started = _phase("3. train (SageMaker Training contract, script mode)")
    model_dir = out / "model"
    log = local_run.train(processing, model_dir, out / "training-output",
                          {"max-iter": "150", "learning-rate": "0.1", "seed": "42"})
    console.print(log.strip())
    _done(started)

    started = _phase("4. evaluate")
    model_tar = local_run.package_model(model_dir, out / "artifacts" / "model.tar.gz")
    local_run.evaluate(model_tar, processing, out / "evaluation")
    report = json.loads((out / "evaluation" / "evaluation" / "evaluation.json").read_text())
    metrics = Table("metric", "value", "bootstrap std", title="evaluation.json (regression_metrics)")
    for name, value in report["regression_metrics"].items():
        metrics.add_row(name, f"{value['value']:.4f}", f"{value['standard_deviation']:.4f}")
    console.print(metrics)
    _done(started)

    started = _phase("5. serve the model (SageMaker inference container contract) and send requests")
    port = _free_port()
    env = {**os.environ, "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(ROOT / "inference"),
           "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "modelserver", "serve", "--host", "127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_ping(port, server)
        test = pd.read_csv(processing / "test" / "test.csv", header=None).head(8)
        body = "\n".join(",".join(repr(float(v)) for v in row) for row in test.iloc[:, 1:].itertuples(index=False))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
        reply = conn.getresponse()
        predictions = [float(v) for v in reply.read().decode().split()]
        table = Table("trip_distance", "pickup hour", "actual min", "predicted min",
                      title=f"POST /invocations (text/csv, {len(test)} rows) -> HTTP {reply.status}")
        for (_, row), predicted in zip(test.iterrows(), predictions, strict=True):
            table.add_row(f"{row[1]:.2f}", f"{int(row[5])}", f"{row[0]:.1f}", f"{predicted:.1f}")
        console.print(table)
        conn.request("POST", "/invocations", body=json.dumps({"instances": [[1.0, 1, 2]]}),
                     headers={"Content-Type": "application/json"})
        bad = conn.getresponse()
        console.print(f"a malformed request gets HTTP {bad.status}: {bad.read().decode().strip()}")
    finally:
        server.terminate()
        server.wait(10)
    _done(started, f"(model server on 127.0.0.1:{port}, stopped)")
    console.print(f"\nArtifacts: {out}/model (model.joblib + model.json with sha256, versions, metrics), "
                  f"{out}/evaluation/evaluation/evaluation.json")


def main() -> None:
    try:
        run(ROOT / "demo-output")
    except local_run.StepError as e:
        console.print(f"[red]error:[/] {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; every process started by the demo was stopped[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
