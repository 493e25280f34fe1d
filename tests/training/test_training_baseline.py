"""baseline.py as a Processing job: Model Monitor statistics/constraints layout and numbers."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from training_helpers import run_script

from training import baseline


@pytest.fixture(scope="module")
def files(pipeline) -> tuple[dict, dict, pd.DataFrame, list[str]]:
    out = pipeline.base / "baseline"
    stats = json.loads((out / "statistics.json").read_text())
    constraints = json.loads((out / "constraints.json").read_text())
    names = json.loads((pipeline.base / "train" / "schema.json").read_text())["features"]
    data = pd.read_csv(pipeline.base / "train" / "train.csv", header=None).iloc[:, 1:]
    data.columns = names
    return stats, constraints, data, names


def sketch_quantile(data: list[list[float]], q: float) -> float:
    values = np.concatenate([np.asarray(level, dtype=float) for level in data])
    weights = np.concatenate([np.full(len(level), 2.0**h) for h, level in enumerate(data)])
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def test_statistics_layout_and_numbers(files) -> None:
    stats, _, data, names = files
    assert stats["version"] == 0.0
    assert stats["dataset"] == {"item_count": len(data)}
    assert [f["name"] for f in stats["features"]] == names
    for feature in stats["features"]:
        column = data[feature["name"]].to_numpy()
        numbers = feature["numerical_statistics"]
        assert numbers["common"] == {"num_present": len(column), "num_missing": 0}
        assert numbers["mean"] == pytest.approx(column.mean())
        assert numbers["sum"] == pytest.approx(column.sum())
        assert numbers["std_dev"] == pytest.approx(column.std())
        assert (numbers["min"], numbers["max"]) == (column.min(), column.max())
        kll = numbers["distribution"]["kll"]
        assert len(kll["buckets"]) == 10
        assert sum(b["count"] for b in kll["buckets"]) == len(column)
        assert kll["buckets"][0]["lower_bound"] == column.min()
        assert kll["buckets"][-1]["upper_bound"] == pytest.approx(column.max())
        for left, right in zip(kll["buckets"], kll["buckets"][1:], strict=False):
            assert left["upper_bound"] == pytest.approx(right["lower_bound"])
        sketch = kll["sketch"]
        assert sketch["parameters"] == {"c": 0.64, "k": 2048.0}
        weight = sum(len(level) * 2**h for h, level in enumerate(sketch["data"]))
        assert weight == len(column)
        for q in (0.1, 0.5, 0.9):
            estimate = sketch_quantile(sketch["data"], q)
            rank = np.mean(column <= estimate)
            assert rank == pytest.approx(q, abs=0.03) or np.quantile(column, q) == estimate


def test_types_follow_the_values(files) -> None:
    stats = {f["name"]: f for f in files[0]["features"]}
    for name in ("PULocationID", "pickup_hour", "is_weekend", "passenger_count"):
        assert stats[name]["inferred_type"] == "Integral", name
    for name in ("trip_distance", "hour_sin"):
        assert stats[name]["inferred_type"] == "Fractional", name


def test_constraints_layout(files) -> None:
    stats, constraints, _, names = files
    assert constraints["version"] == 0.0
    assert [f["name"] for f in constraints["features"]] == names
    by_name = {f["name"]: f for f in constraints["features"]}
    for feature in stats["features"]:
        entry = by_name[feature["name"]]
        assert set(entry) == {"name", "inferred_type", "completeness", "num_constraints"}
        assert entry["inferred_type"] == feature["inferred_type"]
        assert entry["completeness"] == 1.0
    assert by_name["trip_distance"]["num_constraints"] == {"is_non_negative": True}
    assert by_name["hour_sin"]["num_constraints"] == {"is_non_negative": False}
    assert constraints["monitoring_config"] == {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
        },
    }


def test_missing_values_lower_completeness(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "schema.json").write_text(json.dumps({"target": "duration_minutes", "features": ["a", "b"]}))
    (folder / "train.csv").write_text("10,1.5,-2\n11,,3\n12,2.5,4\n13,3.5,5\n")
    assert baseline.main(["--input-dir", str(folder), "--output-dir", str(tmp_path / "out")]) == 0
    stats = json.loads((tmp_path / "out" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    a, b = stats["features"]
    assert a["numerical_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    assert a["numerical_statistics"]["mean"] == pytest.approx(2.5)
    assert b["inferred_type"] == "Integral" and a["inferred_type"] == "Fractional"
    assert constraints["features"][0]["completeness"] == 0.75
    assert constraints["features"][1]["num_constraints"]["is_non_negative"] is False


def test_missing_schema_is_a_clear_error(pipeline, tmp_path: Path) -> None:
    (tmp_path / "input" / "train").mkdir(parents=True)
    shutil.copyfile(pipeline.base / "train" / "train.csv", tmp_path / "input" / "train" / "train.csv")
    result = run_script(
        "baseline.py", tmp_path, SM_PROCESSING_BASE_DIR=str(tmp_path), SM_OUTPUT_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "no schema.json" in (tmp_path / "message").read_text()
    assert not (tmp_path / "baseline").exists()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    n=st.integers(0, 30_000),
    k=st.sampled_from([8, 64, 2048]),
    seed=st.integers(0, 1000),
)
def test_kll_sketch_keeps_weight_and_rank_accuracy(n: int, k: int, seed: int) -> None:
    values = np.random.default_rng(seed).lognormal(0, 1, n)
    levels = baseline.kll_levels(values, k=k, seed=seed)
    assert sum(len(level) * 2**h for h, level in enumerate(levels)) == n
    top = len(levels) - 1
    for h, level in enumerate(levels):
        assert len(level) <= max(2, math.ceil(k * 0.64 ** (top - h)))
    if n and k == 2048:
        median = sketch_quantile([level.tolist() for level in levels], 0.5)
        assert np.mean(values <= median) == pytest.approx(0.5, abs=0.02)
