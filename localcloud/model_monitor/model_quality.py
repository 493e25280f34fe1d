"""Model quality, as Model Monitor's analyzer defines it for regression: predictions against ground truth.

Ground truth is uploaded by the user, one JSON line per label
(`{"groundTruthData": {"data": "12.5", "encoding": "CSV"}, "eventMetadata": {"eventId": ...}}`), and
merged with the captured predictions by the capture's `inferenceId` when the caller set one, else
its `eventId`, as AWS's ground-truth merge job does. Captured predictions without a label, and
labels without a prediction, are counted and reported, never guessed. The metrics (mae, mse,
rmse, r2, each with the standard deviation of its per-record error where one makes sense) are
compared with `constraints.json`'s `regression_constraints` (threshold and comparison operator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["Merged", "QualityViolation", "merge", "regression_metrics", "violations"]

_OPERATORS = {
    "GreaterThanThreshold": lambda v, t: v > t, "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass
class Merged:
    predictions: np.ndarray
    labels: np.ndarray
    unlabelled: int
    """Captured predictions with no ground truth (yet)."""
    unknown: int
    """Ground-truth labels whose event id matches no captured prediction."""
    unreadable: int
    """Predictions or labels that are not numbers."""


@dataclass(frozen=True)
class QualityViolation:
    metric_name: str
    constraint_check_type: str
    description: str

    def as_json(self) -> dict[str, str]:
        return {"constraint_check_type": self.constraint_check_type, "description": self.description,
                "metric_name": self.metric_name}


def _first_value(texts: pd.Series, column: int) -> pd.Series:
    """Column `column` of CSV payloads (the first row of each) as numbers (NaN when not one)."""
    first_rows = texts.fillna("").str.split("\n", n=1).str[0]
    return pd.to_numeric(first_rows.str.split(",").str[column], errors="coerce")


def merge(event_ids: pa.Array, inference_ids: pa.Array, outputs: pa.Array, truth_ids: pa.Array,
          truth_labels: pa.Array, inference_attribute: int = 0) -> Merged:
    """Join predictions (column `inference_attribute` of the captured output) with their labels."""
    keys = pd.Series(inference_ids.to_pandas()).fillna(pd.Series(event_ids.to_pandas()))
    captured = pd.DataFrame({"key": keys, "prediction": _first_value(pd.Series(outputs.to_pandas()),
                                                                     inference_attribute)})
    truth = pd.DataFrame({"key": pd.Series(truth_ids.to_pandas()),
                          "label": _first_value(pd.Series(truth_labels.to_pandas()), 0)})
    truth = truth.drop_duplicates("key", keep="last")  # a corrected label replaces the earlier one
    labelled = captured["key"].isin(truth["key"])
    both = captured[labelled].merge(truth, on="key", how="left")  # keeps the capture's order
    readable = both["prediction"].notna() & both["label"].notna()
    return Merged(both.loc[readable, "prediction"].to_numpy(dtype=float),
                  both.loc[readable, "label"].to_numpy(dtype=float),
                  int((~labelled).sum()), int((~truth["key"].isin(captured["key"])).sum()), int((~readable).sum()))


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, Any]]:
    """mae, mse, rmse, r2 in statistics.json's shape: {"value": ..., "standard_deviation": ...}."""
    errors = predictions - labels
    mae, mse = float(np.mean(np.abs(errors))), float(np.mean(errors ** 2))
    spread = float(np.sum((labels - labels.mean()) ** 2))
    r2 = 1.0 - float(np.sum(errors ** 2)) / spread if spread > 0 else float("nan")

    def deviation(values: np.ndarray) -> Any:
        return float(np.std(values)) if len(values) > 1 else "NaN"

    return {"mae": {"value": mae, "standard_deviation": deviation(np.abs(errors))},
            "mse": {"value": mse, "standard_deviation": deviation(errors ** 2)},
            "rmse": {"value": math.sqrt(mse), "standard_deviation": "NaN"},
            "r2": {"value": r2, "standard_deviation": "NaN"}}


def violations(metrics: dict[str, dict[str, Any]], constraints: dict[str, Any]) -> list[QualityViolation]:
    """A violation per metric that breaks its constraint (`regression_constraints.<metric>`)."""
    found = []
    for name, rule in (constraints.get("regression_constraints") or {}).items():
        value = (metrics.get(name) or {}).get("value")
        operator = str(rule.get("comparison_operator", "GreaterThanThreshold"))
        check = _OPERATORS.get(operator)
        if value is None or check is None or not isinstance(value, float) or math.isnan(value):
            continue
        threshold = float(rule.get("threshold", 0.0))
        if check(value, threshold):
            found.append(QualityViolation(name, operator,
                                          f"Metric {name} with {value} was {operator} {threshold}"))
    return found
