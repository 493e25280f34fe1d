"""Framework image runtimes, measured: the first build, and what a job pays once one is built.

    .venv/bin/python bench/runtimes.py

Targets: building an image's runtime the first time takes <= 60 s with uv's package cache warm
(here every image is built into a fresh folder; the cache is warm after `make test` or `make demo`);
once built, finding it costs a job next to nothing (the per-step overhead itself is measured by
bench/localcloud_costs.py, on the same runtime). Also printed: a requirements.txt layer, first
and reused. Prints the figures and PASS/MISS; a benchmark, not a test.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from localcloud.runtimes.layers import with_requirements
from localcloud.runtimes.specs import all_specs
from localcloud.runtimes.store import RuntimeStore
from localcloud.sagemaker.images import resolve_runtime

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_first_builds(root: Path) -> None:
    store = RuntimeStore(root)
    for spec in all_specs()["sagemaker-scikit-learn"].values():
        t0 = time.perf_counter()
        built = store.ensure(spec)
        took = time.perf_counter() - t0
        print(f"first build of {spec.name:<36} {took:5.1f} s  ({built.summary()})  "
              f"[target <= 60 s: {verdict(took <= 60)}]")


def bench_lookup(root: Path, runs: int = 200) -> None:
    store = RuntimeStore(root)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        resolve_runtime(IMAGE, store=store)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"a job finding its built runtime (tag -> spec -> manifest): median {statistics.median(times):.2f} ms "
          f"over {runs}  [part of the per-step overhead, target <= 50 ms: {verdict(statistics.median(times) <= 50)}]")


def bench_layer(root: Path, work: Path) -> None:
    wheels = work / "wheels"
    wheels.mkdir()
    info = "bench_pkg-1.0.dist-info"
    with zipfile.ZipFile(wheels / "bench_pkg-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("bench_pkg/__init__.py", "")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: bench-pkg\nVersion: 1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    code = work / "code"
    code.mkdir()
    (code / "requirements.txt").write_text("bench-pkg==1.0\n")
    built = resolve_runtime(IMAGE, store=RuntimeStore(root)).built
    assert built is not None
    env = {"PATH": os.environ["PATH"], "HOME": str(work), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    for label in ("first (hard-linked copy + pip)", "reused"):
        t0 = time.perf_counter()
        with_requirements(built, code / "requirements.txt", env, lambda _line: None)
        print(f"requirements.txt layer, {label}: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as tmp:
        root = Path(tmp) / "runtimes"
        bench_first_builds(root)
        bench_lookup(root)
        bench_layer(root, Path(tmp))


if __name__ == "__main__":
    main()
