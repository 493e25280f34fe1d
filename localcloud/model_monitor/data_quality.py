"""Data quality, as Model Monitor's analyzer defines it: statistics of a window, and its violations.

The window's columns are compared with the baseline (`statistics.json` and `constraints.json`
in Model Monitor's schema) feature by feature, by position: captured CSV has no header, so its
columns are matched to the baseline's features in order, as the analyzer does when the baseline
was suggested from headerless data. Work is per column on numpy arrays (sorted once), so a
million records cost a few hundred milliseconds.

The distribution distance is the L-infinity distance between the baseline's cumulative
distribution (read from its KLL sketch: level h holds items of weight 2^h) and the window's,
evaluated at every sketch item of both (`comparison_method: Simple`). `Robust`, the default,
subtracts what two samples of sizes n and m differ by from sampling alone,
1.8 * sqrt((n + m) / (n * m)), as the analyzer's distance library (Deequ) does, so a small window
is not a drift by itself. A feature drifts when the distance exceeds
`distribution_constraints.comparison_threshold`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Violation", "analyse", "baseline_cdf", "feature_statistics", "linf_distance"]

SKETCH_K = 2048
SKETCH_C = 0.64
BUCKETS = 10


@dataclass(frozen=True)
class Violation:
    feature_name: str
    constraint_check_type: str
    description: str

    def as_json(self) -> dict[str, str]:
        return {"feature_name": self.feature_name, "constraint_check_type": self.constraint_check_type,
                "description": self.description}


def _numeric(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int, int]:
    """(present float values, how many are missing, how many are present but not numbers)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_null(array.type):
        values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        present = values[~np.isnan(values)]
        return present, len(array) - len(present), 0
    text = pd.Series(pc.cast(array, pa.string()).to_pandas()).str.strip()
    blank = text.isna() | (text == "")
    numbers = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=float)
    not_numeric = int((~blank & np.isnan(numbers)).sum())
    return numbers[~np.isnan(numbers)], int(blank.sum()), not_numeric


def _sketch(ordered: np.ndarray) -> list[list[float]]:
    """A KLL-style summary of sorted values: one level h whose items (weight 2^h) cover them all."""
    if len(ordered) == 0:
        return [[]]
    level = max(0, math.ceil(math.log2(len(ordered) / SKETCH_K))) if len(ordered) > SKETCH_K else 0
    step = 2 ** level
    items = ordered[step // 2::step] if step > 1 else ordered
    return [[] for _ in range(level)] + [items.tolist()]


def _buckets(ordered: np.ndarray) -> list[dict[str, float]]:
    if len(ordered) == 0:
        return []
    lo, hi = float(ordered[0]), float(ordered[-1])
    edges = np.linspace(lo, hi, BUCKETS + 1) if hi > lo else np.array([lo] * (BUCKETS + 1))
    counts = np.histogram(ordered, bins=edges)[0] if hi > lo else np.array([len(ordered)] + [0] * (BUCKETS - 1))
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
            for i in range(BUCKETS)]


def feature_statistics(name: str, ordered: np.ndarray, missing: int) -> dict[str, Any]:
    """One numeric feature's entry of statistics.json (values sorted ascending)."""
    integral = bool(len(ordered)) and bool(np.all(np.floor(ordered) == ordered))
    stats: dict[str, Any] = {"common": {"num_present": len(ordered), "num_missing": int(missing)}}
    if len(ordered):
        stats.update(mean=float(ordered.mean()), sum=float(ordered.sum()), std_dev=float(ordered.std()),
                     min=float(ordered[0]), max=float(ordered[-1]))
    stats["distribution"] = {"kll": {"buckets": _buckets(ordered), "sketch": {
        "parameters": {"c": SKETCH_C, "k": float(SKETCH_K)}, "data": _sketch(ordered)}}}
    return {"name": name, "inferred_type": "Integral" if integral else "Fractional", "numerical_statistics": stats}


def baseline_cdf(feature: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted item values, their cumulative weight fractions) from a statistics feature's KLL sketch."""
    kll = (((feature.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {})
    levels = (kll.get("sketch") or {}).get("data") or []
    values, weights = [], []
    for height, items in enumerate(levels):
        for item in items or []:
            values.append(float(item))
            weights.append(2.0 ** height)
    if not values:
        return None
    order = np.argsort(values, kind="stable")
    ordered = np.asarray(values)[order]
    cumulative = np.cumsum(np.asarray(weights)[order])
    return ordered, cumulative / cumulative[-1]


def _cdf_at(points: np.ndarray, ordered: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    index = np.searchsorted(ordered, points, side="right")
    return np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)


def linf_distance(baseline: tuple[np.ndarray, np.ndarray], current: np.ndarray) -> float:
    """max |F_baseline(x) - F_current(x)| over the sketch items of both (current: sorted values)."""
    if len(current) == 0:
        return 0.0
    base_values, base_cdf = baseline
    step = max(1, len(current) // SKETCH_K)
    points = np.union1d(base_values, current[::step])
    current_cdf = np.searchsorted(current, points, side="right") / len(current)
    return float(np.max(np.abs(_cdf_at(points, base_values, base_cdf) - current_cdf)))


def analyse(table: pa.Table, statistics: dict[str, Any], constraints: dict[str, Any],
            item_count: int) -> tuple[dict[str, Any], list[Violation], dict[str, dict[str, float]]]:
    """Statistics of the window, its violations, and per feature the values its metrics publish."""
    base_features = statistics.get("features") or []
    constrained = {f.get("name"): f for f in constraints.get("features") or []}
    config = constraints.get("monitoring_config") or {}
    evaluate = str(config.get("evaluate_constraints", "Enabled")) == "Enabled"
    type_threshold = float(config.get("datatype_check_threshold", 1.0))
    distribution = config.get("distribution_constraints") or {}
    compare = str(distribution.get("perform_comparison", "Enabled")) == "Enabled"
    drift_threshold = float(distribution.get("comparison_threshold", 0.1))
    method = str(distribution.get("comparison_method", "Robust"))
    violations: list[Violation] = []
    features: list[dict[str, Any]] = []
    metrics: dict[str, dict[str, float]] = {}
    columns = table.column_names
    for index, base in enumerate(base_features):
        name = str(base.get("name", f"_c{index}"))
        if index >= len(columns):
            violations.append(Violation(name, "missing_column_check",
                                        f"There are missing columns in current dataset. Number of columns in "
                                        f"current dataset: {len(columns)}, Number of columns in baseline "
                                        f"constraints: {len(base_features)}"))
            continue
        present, missing, wrong_type = _numeric(table.column(index))
        ordered = np.sort(present)
        entry = feature_statistics(name, ordered, missing + wrong_type)
        features.append(entry)
        count = len(ordered) + missing + wrong_type
        completeness = len(ordered) / count if count else 0.0
        drift = 0.0
        base_cdf = baseline_cdf(base)
        if base_cdf is not None and len(ordered):
            drift = linf_distance(base_cdf, ordered)
            if method == "Robust":
                n = float(((base.get("numerical_statistics") or {}).get("common") or {}).get("num_present") or 0)
                m = float(len(ordered))
                drift = max(0.0, drift - 1.8 * math.sqrt((n + m) / (n * m))) if n > 0 else drift
        metrics[name] = {"drift": drift, "completeness": completeness, "count": float(len(ordered)),
                         "sum": float(ordered.sum()) if len(ordered) else 0.0,
                         "min": float(ordered[0]) if len(ordered) else 0.0,
                         "max": float(ordered[-1]) if len(ordered) else 0.0}
        if not evaluate:
            continue
        expected = str(base.get("inferred_type", "Fractional"))
        matching = len(ordered) if expected == "Fractional" else int(np.sum(np.floor(ordered) == ordered))
        observed = matching / (len(ordered) + wrong_type) if len(ordered) + wrong_type else 1.0
        if observed < type_threshold:
            violations.append(Violation(name, "data_type_check",
                                        f"Data type match requirement is not met. Expected data type: {expected}, "
                                        f"Expected match: {type_threshold * 100:.1f}%. Observed: Only "
                                        f"{observed * 100:.1f}% of data is {expected}."))
        required = float((constrained.get(name) or {}).get("completeness", 0.0))
        if completeness < required:
            violations.append(Violation(name, "completeness_check",
                                        f"Data completeness requirement is not met. Expected completeness: "
                                        f"{required * 100:.1f}%. Observed: Only {completeness * 100:.1f}% of "
                                        f"data is complete."))
        if compare and drift > drift_threshold:
            violations.append(Violation(name, "baseline_drift_check",
                                        f"Baseline drift distance: {drift} exceeds threshold: {drift_threshold}"))
    if len(columns) > len(base_features):
        violations.append(Violation("", "extra_column_check",
                                    f"There are extra columns in current dataset. Number of columns in current "
                                    f"dataset: {len(columns)}, Number of columns in baseline constraints: "
                                    f"{len(base_features)}"))
    return {"version": 0.0, "dataset": {"item_count": item_count}, "features": features}, violations, metrics
