"""Model quality: captured predictions merged with ground truth by event id, regression metrics, violations.

A concept shift (same inputs, a changed relationship) leaves data quality untouched; only the
labels show it: the merged rmse rises over the baseline's constraint and is a violation.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from localcloud.model_monitor.model_quality import merge, regression_metrics, violations

CONSTRAINTS = {"regression_constraints": {
    "rmse": {"threshold": 1.2, "comparison_operator": "GreaterThanThreshold"},
    "r2": {"threshold": 0.8, "comparison_operator": "LessThanThreshold"}}}


def _window(n: int, seed: int, concept_shift: float) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]:
    """Predictions of a fixed model, and ground truth whose relationship to the inputs moved by `concept_shift`."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    predicted = 3.0 * x + 2.0
    truth = (3.0 + concept_shift) * x + 2.0 + rng.normal(0, 1.0, n)
    ids = [f"event-{i}" for i in range(n)]
    return (pa.array(ids), pa.array([None] * n, pa.string()), pa.array([f"{p}\n" for p in predicted]),
            pa.array(ids), pa.array([str(t) for t in truth]))


def test_an_unchanged_relationship_has_no_quality_violation() -> None:
    merged = merge(*_window(2000, 1, concept_shift=0.0))
    metrics = regression_metrics(merged.predictions, merged.labels)
    assert (merged.unlabelled, merged.unknown, merged.unreadable, len(merged.labels)) == (0, 0, 0, 2000)
    assert metrics["rmse"]["value"] == pytest.approx(1.0, abs=0.1)
    assert metrics["r2"]["value"] > 0.95
    assert violations(metrics, CONSTRAINTS) == []


def test_a_concept_shift_is_a_quality_violation() -> None:
    merged = merge(*_window(2000, 2, concept_shift=0.6))
    metrics = regression_metrics(merged.predictions, merged.labels)
    found = {v.metric_name: v for v in violations(metrics, CONSTRAINTS)}
    assert set(found) == {"rmse"}  # r2 still looks fine: rmse is what catches it here
    rmse = metrics["rmse"]["value"]
    assert rmse > 1.2 and found["rmse"].constraint_check_type == "GreaterThanThreshold"
    assert found["rmse"].description == f"Metric rmse with {rmse} was GreaterThanThreshold 1.2"


def test_inference_ids_win_and_unmatched_records_are_counted_not_guessed() -> None:
    merged = merge(pa.array(["e1", "e2", "e3", "e4"]), pa.array([None, "custom-2", None, None]),
                   pa.array(["1.0", "2.0", "3.0", "not a number"]),
                   pa.array(["e1", "custom-2", "e2", "nobody", "e4", "e1"]),
                   pa.array(["1.5", "2.5", "99", "7", "4", "1.25"]))
    assert list(merged.predictions) == [1.0, 2.0]
    assert list(merged.labels) == [1.25, 2.5]  # the later label for e1 replaces the first; e2 matched custom-2
    assert (merged.unlabelled, merged.unknown, merged.unreadable) == (1, 2, 1)  # e3; e2 and nobody; e4


def test_a_single_label_has_no_deviation_and_r2_is_undefined() -> None:
    metrics = regression_metrics(np.array([2.0]), np.array([1.0]))
    assert metrics["mae"] == {"value": 1.0, "standard_deviation": "NaN"}
    assert math.isnan(metrics["r2"]["value"])
    assert violations(metrics, CONSTRAINTS) == []  # an undefined metric is no violation
