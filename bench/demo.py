"""Wall time of `make demo`, phase by phase, against the targets.

    .venv/bin/python bench/demo.py

Targets (issue "pipelines and the CLI", 2 cores, environment installed): the whole demo
under 60 s, the pipeline execution on one month of data under 20 s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sagestack import demo


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        timings = demo.run(Path(tmp) / "demo-output")
    pipeline = dict(timings.phases)["run the pipeline"]
    print()
    for title, took in timings.phases:
        print(f"{title:<46} {took:6.1f} s")
    print(f"{'whole demo':<46} {timings.total:6.1f} s  [target < 60 s: {'PASS' if timings.total < 60 else 'MISS'}]")
    print(f"{'pipeline execution (one month)':<46} {pipeline:6.1f} s  "
          f"[target < 20 s: {'PASS' if pipeline < 20 else 'MISS'}]")


if __name__ == "__main__":
    main()
