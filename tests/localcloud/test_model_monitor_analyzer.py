"""localcloud's Model Monitor analyzer against known distributions, run as the program a job runs.

The baseline comes from the project's own baseline job (training/baseline.py, Model Monitor's
format); the window is data-capture JSONL as endpoints write it. No drift -> no violation; a
shifted feature -> a baseline_drift_check violation whose distance exceeds the threshold; bad
input -> a clear violation, a skipped line with its reason, or a failure reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["distance", "passengers", "hour"]


def _rows(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.gamma(2.0, 1.5, n) + shift, rng.integers(1, 5, n), rng.integers(0, 24, n)])


def _baseline(folder: Path, n: int = 5000) -> Path:
    """statistics.json and constraints.json of a reference sample, written by the project's baseline job."""
    data = folder / "train"
    data.mkdir(parents=True)
    rows = _rows(n, seed=1)
    target = rows[:, 0] * 3
    np.savetxt(data / "train.csv", np.column_stack([target, rows]), delimiter=",", fmt="%.6g")
    (data / "schema.json").write_text(json.dumps({"features": FEATURES}))
    out = folder / "baseline"
    subprocess.run([sys.executable, str(ROOT / "training" / "baseline.py"), "--input-dir", str(data),
                    "--output-dir", str(out)], check=True, capture_output=True)
    return out


def _capture(folder: Path, rows: np.ndarray, per_request: int = 1, lines: list[str] | None = None) -> Path:
    """Rows as data-capture JSONL (CSV payloads), split over two hour folders."""
    records = []
    for start in range(0, len(rows), per_request):
        payload = "\n".join(",".join(f"{v:g}" for v in row) for row in rows[start:start + per_request])
        records.append(json.dumps({
            "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": payload,
                                              "encoding": "CSV"},
                            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "1.0",
                                               "encoding": "CSV"}},
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": "2026-11-30T10:00:00Z"},
            "eventVersion": "0"}))
    records += lines or []
    half = len(records) // 2
    for hour, chunk in (("10", records[:half]), ("11", records[half:])):
        hour_dir = folder / "ep" / "AllTraffic" / "2026" / "11" / "30" / hour
        hour_dir.mkdir(parents=True, exist_ok=True)
        (hour_dir / "capture.jsonl").write_text("".join(line + "\n" for line in chunk))
    return folder


def _analyse(tmp: Path, capture: Path, baseline: Path | None, **extra: str) -> tuple[int, str, dict[str, Any]]:
    out = tmp / f"out-{uuid.uuid4().hex[:6]}"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "dataset_source": str(capture), "output_path": str(out),
           "publish_cloudwatch_metrics": "Disabled", "SM_OUTPUT_DIR": str(out / "message"),
           "dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}),
           **extra}
    if baseline is not None:
        env.update(baseline_statistics=str(baseline / "statistics.json"),
                   baseline_constraints=str(baseline / "constraints.json"))
    done = subprocess.run([sys.executable, "-m", "localcloud.model_monitor"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    result: dict[str, Any] = {}
    for name in ("statistics.json", "constraint_violations.json"):
        if (out / name).is_file():
            result[name] = json.loads((out / name).read_text())
    for name in ("message", "failure"):
        if (out / "message" / name).is_file():
            result[name] = (out / "message" / name).read_text()
    return done.returncode, done.stdout + done.stderr, result


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _baseline(tmp_path_factory.mktemp("baseline"))


def test_the_same_distribution_has_no_violation(baseline: Path, tmp_path: Path) -> None:
    code, output, result = _analyse(tmp_path, _capture(tmp_path / "cap", _rows(2000, seed=2)), baseline)
    assert code == 0, output
    assert result["constraint_violations.json"] == {"violations": []}
    assert result["message"] == "Completed: Job completed successfully with no violations."
    stats = {f["name"]: f for f in result["statistics.json"]["features"]}
    assert list(stats) == FEATURES and result["statistics.json"]["dataset"]["item_count"] == 2000
    assert stats["passengers"]["inferred_type"] == "Integral"
    assert stats["distance"]["inferred_type"] == "Fractional"
    assert stats["hour"]["numerical_statistics"]["common"] == {"num_present": 2000, "num_missing": 0}


def test_a_shifted_feature_is_a_drift_violation_over_the_threshold(baseline: Path, tmp_path: Path) -> None:
    code, output, result = _analyse(tmp_path, _capture(tmp_path / "cap", _rows(2000, seed=3, shift=2.0),
                                                       per_request=10), baseline)
    assert code == 0, output
    violations = result["constraint_violations.json"]["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("distance", "baseline_drift_check")]
    distance = float(violations[0]["description"].split("distance: ")[1].split(" exceeds")[0])
    assert distance > 0.1 and violations[0]["description"].endswith("exceeds threshold: 0.1")
    assert result["message"] == "CompletedWithViolations: Job completed successfully with 1 violations."


def test_types_columns_and_malformed_lines_are_reported(baseline: Path, tmp_path: Path) -> None:
    rows = _rows(400, seed=4)
    rows[:40, 1] += 0.5  # 10% of passenger counts are not whole numbers
    bad = ["{not json", json.dumps(["a list, not a record"])]
    code, output, result = _analyse(tmp_path, _capture(tmp_path / "cap", rows, lines=bad), baseline)
    assert code == 0, output
    checks = {v["constraint_check_type"]: v for v in result["constraint_violations.json"]["violations"]}
    assert checks["data_type_check"]["feature_name"] == "passengers"
    assert checks["data_type_check"]["description"] == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: 100.0%. Observed: "
        "Only 90.0% of data is Integral.")
    assert "capture.jsonl:" in output and "malformed capture line skipped" in output

    narrow = rows[:, :2]
    code, output, result = _analyse(tmp_path, _capture(tmp_path / "narrow", narrow), baseline)
    checks = {v["constraint_check_type"]: v for v in result["constraint_violations.json"]["violations"]}
    assert checks["missing_column_check"]["feature_name"] == "hour"
    wide = np.column_stack([_rows(400, seed=5), np.ones(400)])
    code, output, result = _analyse(tmp_path, _capture(tmp_path / "wide", wide), baseline)
    checks = {v["constraint_check_type"]: v for v in result["constraint_violations.json"]["violations"]}
    assert "extra columns" in checks["extra_column_check"]["description"]


def test_a_few_rows_of_another_width_first_in_the_window_do_not_hide_the_rest(baseline: Path,
                                                                              tmp_path: Path) -> None:
    """The window's first requests have two columns (an old client); the 400 after them three: the
    three-column rows are analysed, the two-column ones skipped with the reason."""
    capture = _capture(tmp_path / "mixed", _rows(400, seed=4))
    first = capture / "ep" / "AllTraffic" / "2026" / "11" / "30" / "10" / "capture.jsonl"
    stray = _capture(tmp_path / "stray", np.ones((6, 2)))
    old_client = [(stray / "ep" / "AllTraffic" / "2026" / "11" / "30" / hour / "capture.jsonl").read_text()
                  for hour in ("10", "11")]
    first.write_text("".join(old_client) + first.read_text())
    code, output, result = _analyse(tmp_path, capture, baseline)
    assert code == 0, output
    assert "analysed 400 records from 406 captured requests" in output
    assert "captured row skipped: expected 3 columns, got 2" in output
    assert result["statistics.json"]["dataset"]["item_count"] == 400
    assert not [v for v in result["constraint_violations.json"]["violations"]
                if v["constraint_check_type"] in ("missing_column_check", "extra_column_check")]


def test_missing_values_break_completeness(baseline: Path, tmp_path: Path) -> None:
    rows = [",".join(["" if i % 4 == 0 else "2.5", "1", "3"]) for i in range(400)]
    folder = tmp_path / "cap" / "ep" / "AllTraffic"
    folder.mkdir(parents=True)
    (folder / "c.jsonl").write_text("".join(json.dumps({
        "captureData": {"endpointInput": {"data": row, "encoding": "CSV", "mode": "INPUT"}},
        "eventMetadata": {"eventId": str(i)}, "eventVersion": "0"}) + "\n" for i, row in enumerate(rows)))
    code, output, result = _analyse(tmp_path, tmp_path / "cap", baseline)
    assert code == 0, output
    violations = result["constraint_violations.json"]["violations"]
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert ("distance", "completeness_check") in checks
    distance = next(f for f in result["statistics.json"]["features"] if f["name"] == "distance")
    assert distance["numerical_statistics"]["common"] == {"num_present": 300, "num_missing": 100}


@pytest.mark.parametrize("setup", ["empty-folder", "no-folder", "only-bad-lines"])
def test_an_empty_window_fails_with_the_analyzers_reason(baseline: Path, tmp_path: Path, setup: str) -> None:
    capture = tmp_path / "cap"
    if setup != "no-folder":
        capture.mkdir()
    if setup == "only-bad-lines":
        (capture / "x.jsonl").write_text("nope\n{\n")
    code, _output, result = _analyse(tmp_path, capture, baseline)
    assert code == 255
    assert result["failure"] == "Job inputs had no data"


def test_a_missing_baseline_file_is_a_clear_failure(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "cap", _rows(10, seed=6))
    code, _output, result = _analyse(tmp_path, capture, None, baseline_statistics=str(tmp_path / "nowhere.json"))
    assert code == 255
    assert result["failure"] == f"baseline_statistics names {tmp_path / 'nowhere.json'}, which does not exist"


def test_json_and_base64_payloads_are_read_like_csv(baseline: Path, tmp_path: Path) -> None:
    import base64

    rows = _rows(300, seed=7)
    folder = tmp_path / "cap"
    folder.mkdir()
    lines = []
    for i, row in enumerate(rows):
        if i % 2:
            data, encoding = json.dumps([float(v) for v in row]), "JSON"
        else:
            data, encoding = base64.b64encode(",".join(f"{v:g}" for v in row).encode()).decode(), "BASE64"
        lines.append(json.dumps({"captureData": {"endpointInput": {"data": data, "encoding": encoding}},
                                 "eventMetadata": {"eventId": str(i)}, "eventVersion": "0"}))
    (folder / "c.jsonl").write_text("\n".join(lines) + "\n")
    code, output, result = _analyse(tmp_path, folder, baseline)
    assert code == 0, output
    assert result["statistics.json"]["dataset"]["item_count"] == 300


def test_the_window_keeps_only_its_own_records_however_a_file_was_read(tmp_path: Path) -> None:
    """start_time/end_time select by inferenceTime, in files pyarrow reads whole and in ones read line by line."""
    from datetime import UTC, datetime

    from localcloud.model_monitor.capture import read_capture

    lines = [json.dumps({"captureData": {"endpointInput": {"data": "1", "encoding": "CSV"}},
                         "eventMetadata": {"eventId": str(i), "inferenceTime": f"2026-11-30T07:00:{i:02d}Z"}})
             for i in range(10)]
    (tmp_path / "whole.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "fallback.jsonl").write_text("\n".join([*lines[:5], "{broken"]) + "\n")
    capture = read_capture(tmp_path)
    start = datetime(2026, 11, 30, 7, 0, 3, tzinfo=UTC).timestamp()
    assert len(capture) == 15
    assert sorted(capture.within(start, start + 4).event_ids.to_pylist()) == ["3", "3", "4", "4", "5", "6"]
