"""localcloud's Model Monitor analyzer, measured: a million captured records, data quality, ten features.

    .venv/bin/python bench/model_monitor.py

Target: <= 5 s for 1,000,000 records (CSV payloads inside data-capture JSON), from reading the
files to the violations, on 2 cores. Prints records/s and MB/s; a benchmark, not a test.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np

from localcloud.model_monitor.capture import csv_columns, read_capture
from localcloud.model_monitor.data_quality import analyse, feature_statistics

RECORDS = 1_000_000
FEATURES = 10
FILES = 20  # capture files as an endpoint writes them: many, each a few tens of MB


def write_capture(folder: Path, rows: np.ndarray) -> int:
    """Data-capture JSONL with one CSV row per request; returns the bytes written."""
    head = ('{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"')
    tail = ('","encoding":"CSV"},"endpointOutput":{"observedContentType":"text/csv","mode":"OUTPUT",'
            '"data":"1.0","encoding":"CSV"}},"eventMetadata":{"eventId":"%08d","inferenceTime":'
            '"2026-11-30T10:00:00Z"},"eventVersion":"0"}')
    size = 0
    for index, chunk in enumerate(np.array_split(rows, FILES)):
        buffer = io.StringIO()
        np.savetxt(buffer, chunk, delimiter=",", fmt="%.6g")
        payloads = buffer.getvalue().splitlines()
        text = "\n".join(head + payload + tail % (index * len(chunk) + i) for i, payload in enumerate(payloads))
        path = folder / f"capture-{index:02d}.jsonl"
        path.write_text(text + "\n")
        size += path.stat().st_size
    return size


def main() -> None:
    rng = np.random.default_rng(0)
    base_rows = rng.normal(size=(50_000, FEATURES))
    statistics = {"features": [feature_statistics(f"f{i}", np.sort(base_rows[:, i]), 0) for i in range(FEATURES)]}
    constraints = {"features": [{"name": f"f{i}", "completeness": 1.0} for i in range(FEATURES)],
                   "monitoring_config": {"distribution_constraints": {"comparison_threshold": 0.1}}}
    rows = rng.normal(size=(RECORDS, FEATURES))
    rows[:, 3] += 0.5  # one drifted feature
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        size = write_capture(Path(tmp), rows)
        started = time.perf_counter()
        capture = read_capture(Path(tmp))
        parsed = time.perf_counter()
        table, _skipped = csv_columns(capture.inputs, capture.input_encodings, capture.problems)
        columns = time.perf_counter()
        _result, violations, _metrics = analyse(table, statistics, constraints, table.num_rows)
        done = time.perf_counter()
    took = done - started
    print(f"analyzer, {RECORDS:,} records x {FEATURES} features ({size / 2**20:.0f} MB of capture JSONL): "
          f"{took:.2f} s = {RECORDS / took:,.0f} records/s, {size / 2**20 / took:.0f} MB/s "
          f"(JSON {parsed - started:.2f} s, CSV {columns - parsed:.2f} s, statistics and checks "
          f"{done - columns:.2f} s); violations: {[v.feature_name for v in violations]}  "
          f"[target <= 5 s: {'PASS' if took <= 5 else 'MISS'}]")


if __name__ == "__main__":
    main()
