"""What persistence costs, on the state `make demo` leaves: snapshot and restore times.

    .venv/bin/python bench/persistence.py [DEMO_OUTPUT]

Runs the demo into a temporary folder (or uses the demo output given), then starts localcloud
on its data dir three times: each start restores the demo's state, each graceful stop writes it
back. The figures are the server's own (its log says how long each took). Targets (issue
"localcloud as a product"): snapshot <= 200 ms, restore <= 1 s; start-up without state is
measured by bench/localcloud_costs.py.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from localcloud.launcher import LocalCloud

RESTORED = re.compile(r"state restored from \S+ in (\d+) ms")
SAVED = re.compile(r"state saved to \S+: ([\d.]+) MB, pickled in (\d+) ms, written in (\d+) ms")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def measure(demo_output: Path, runs: int = 3) -> None:
    data = demo_output / "localcloud"
    restores, snapshots, starts = [], [], []
    size = 0.0
    for i in range(runs):
        log = demo_output / f"bench-persistence-{i}.log"
        t0 = time.perf_counter()
        with LocalCloud.start(data, log_path=log) as cloud:
            starts.append(time.perf_counter() - t0)
            cloud.client("s3").list_buckets()
        text = log.read_text()
        restored, saved = RESTORED.search(text), SAVED.search(text)
        if restored is None or saved is None:
            raise SystemExit(f"the server's log {log} does not say how long the restore or the snapshot took")
        restores.append(int(restored.group(1)) / 1000)
        snapshots.append((int(saved.group(2)) + int(saved.group(3))) / 1000)
        size = float(saved.group(1))
    restore, snapshot = statistics.median(restores), statistics.median(snapshots)
    print(f"state after the demo: {size:.1f} MB")
    print(f"snapshot (pickle + atomic write): median {snapshot * 1000:.0f} ms of "
          f"{', '.join(f'{s * 1000:.0f}' for s in snapshots)}  [target <= 200 ms: {verdict(snapshot <= 0.2)}]")
    print(f"restore (read, check, unpickle, install): median {restore * 1000:.0f} ms of "
          f"{', '.join(f'{r * 1000:.0f}' for r in restores)}  [target <= 1 s: {verdict(restore <= 1)}]")
    print(f"start-up with the demo's state, to healthy: median {statistics.median(starts):.2f} s")


def main() -> None:
    if len(sys.argv) > 1:
        measure(Path(sys.argv[1]))
        return
    from sagestack import demo

    with tempfile.TemporaryDirectory(prefix="bench-persistence-") as tmp:
        demo.run(Path(tmp) / "demo-output")
        print()
        measure(Path(tmp) / "demo-output")


if __name__ == "__main__":
    main()
