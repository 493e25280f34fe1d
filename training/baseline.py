"""SageMaker Processing step: data-quality baseline of the model's input features.

Why it looks like this: the endpoint's data-quality monitor compares captured
requests (the feature vectors sent to ``/invocations``) with a baseline in
SageMaker Model Monitor's own format, so the same files work with the managed
monitor and with ours:

* input: ``<base>/input/train/*.csv`` (preprocess.py's train split: headerless,
  target first) and its ``schema.json``, whose ``features`` name the columns
  after the target. The target is not part of the baseline: requests do not
  carry it. Override with ``--input-dir``.
* output: ``<base>/baseline/statistics.json`` and ``constraints.json``
  (override with ``--output-dir``).

``statistics.json`` (version 0.0): ``dataset.item_count``; per feature ``name``,
``inferred_type`` (``Integral`` when every present value is a whole number,
else ``Fractional``), ``numerical_statistics`` with ``common.num_present`` /
``num_missing``, ``mean``, ``sum``, ``std_dev`` (population), ``min``, ``max``
and ``distribution.kll``: ten equal-width ``buckets`` from min to max with
exact counts, and a KLL quantile ``sketch`` (``parameters`` c=0.64, k=2048;
``data`` = the compactor levels, level h holding items of weight 2**h).
The sketch's coin flips are seeded, so the files are reproducible.

``constraints.json`` (version 0.0): per feature ``name``, ``inferred_type``,
``completeness`` (present / items) and ``num_constraints.is_non_negative``
(min >= 0); ``monitoring_config`` enables constraint evaluation and metrics,
thresholds 1.0, distribution comparison ``Robust`` with threshold 0.1.

``<base>`` is ``/opt/ml/processing`` unless ``SM_PROCESSING_BASE_DIR`` is set.
Errors go to stderr and ``<SM_OUTPUT_DIR or /opt/ml/output>/message`` (the
default only when ``/opt/ml`` exists), exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KLL_C = 0.64
KLL_K = 2048
BUCKETS = 10


class BaselineError(Exception):
    """Input the job refuses; the message is shown to the user as is."""


def base_dir() -> Path:
    return Path(os.environ.get("SM_PROCESSING_BASE_DIR", "/opt/ml/processing"))


def report_failure(message: str, file_name: str = "message") -> None:
    """Print to stderr and, where a SageMaker output folder exists, keep it for ExitMessage."""
    print(f"error: {message}", file=sys.stderr)
    explicit = os.environ.get("SM_OUTPUT_DIR")
    out = Path(explicit) if explicit else Path("/opt/ml/output")
    if not explicit and not out.parent.is_dir():
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / file_name).write_text(message[:1024] + "\n")
    except OSError:
        pass


def kll_levels(values: np.ndarray, k: int = KLL_K, c: float = KLL_C, seed: int = 0) -> list[np.ndarray]:
    """A KLL sketch of ``values``: compactor levels where an item on level h stands for 2**h items.

    Level capacities shrink geometrically (factor ``c``) below the top level, never below 2.
    A full level is sorted and every other item (random offset) moves up one level.
    """
    rng = np.random.default_rng(seed)
    levels = [np.asarray(values, dtype="float64")]

    def capacity(h: int) -> int:
        return max(2, math.ceil(k * c ** (len(levels) - 1 - h)))

    while True:
        over = [h for h, items in enumerate(levels) if items.size > capacity(h)]
        if not over:
            return levels
        h = over[0]
        items = np.sort(levels[h])
        keep = items[:1] if items.size % 2 else items[:0]  # an odd item out stays behind
        pairs = items[keep.size :]
        promoted = pairs[int(rng.integers(0, 2)) :: 2]
        if h + 1 == len(levels):
            levels.append(promoted)
        else:
            levels[h + 1] = np.concatenate([levels[h + 1], promoted])
        levels[h] = keep


def buckets(present: np.ndarray, lo: float, hi: float) -> list[dict[str, float]]:
    """Ten equal-width buckets over [lo, hi] with exact counts (the last bucket includes hi)."""
    edges = np.linspace(lo, hi, BUCKETS + 1)
    if present.size == 0:
        counts = np.zeros(BUCKETS, dtype=int)
    elif hi > lo:
        counts, _ = np.histogram(present, bins=edges)
    else:
        counts = np.zeros(BUCKETS, dtype=int)
        counts[0] = present.size
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": int(counts[i])}
        for i in range(BUCKETS)
    ]


def feature_statistics(name: str, column: np.ndarray, seed: int) -> dict:
    present = column[~np.isnan(column)]
    n = int(present.size)
    integral = bool(n and np.all(present == np.round(present)))
    lo = float(present.min()) if n else 0.0
    hi = float(present.max()) if n else 0.0
    return {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
        "numerical_statistics": {
            "common": {"num_present": n, "num_missing": int(column.size - n)},
            "mean": float(present.mean()) if n else 0.0,
            "sum": float(present.sum()),
            "std_dev": float(present.std()) if n else 0.0,
            "min": lo,
            "max": hi,
            "distribution": {
                "kll": {
                    "buckets": buckets(present, lo, hi),
                    "sketch": {
                        "parameters": {"c": KLL_C, "k": float(KLL_K)},
                        "data": [level.tolist() for level in kll_levels(present, seed=seed)],
                    },
                }
            },
        },
    }


def feature_constraints(stats: dict, item_count: int) -> dict:
    numbers = stats["numerical_statistics"]
    present = numbers["common"]["num_present"]
    return {
        "name": stats["name"],
        "inferred_type": stats["inferred_type"],
        "completeness": present / item_count if item_count else 0.0,
        "num_constraints": {"is_non_negative": bool(present == 0 or numbers["min"] >= 0)},
    }


MONITORING_CONFIG = {
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


def load_features(folder: Path) -> tuple[list[str], np.ndarray]:
    files = sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise BaselineError(f"no .csv files in {folder}")
    schema_path = folder / "schema.json"
    if not schema_path.is_file():
        raise BaselineError(f"no schema.json in {folder}: feature names are needed for the baseline")
    try:
        names = [str(n) for n in json.loads(schema_path.read_text())["features"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{schema_path}: not a valid schema ({exc})") from exc
    frames = []
    for path in files:
        if path.stat().st_size == 0:
            continue
        try:
            frames.append(pd.read_csv(path, header=None, dtype="float64"))
        except (ValueError, pd.errors.ParserError) as exc:
            raise BaselineError(f"{path.name} is not a numeric headerless CSV ({exc})") from exc
    if not frames:
        raise BaselineError(f"the csv files in {folder} are empty")
    data = pd.concat(frames, ignore_index=True).to_numpy(dtype="float64")
    if data.shape[1] != len(names) + 1:
        raise BaselineError(
            f"{folder}: rows have {data.shape[1]} columns, schema.json expects target + {len(names)} features"
        )
    return names, data[:, 1:]


def run(args: argparse.Namespace) -> None:
    base = base_dir()
    input_dir = args.input_dir or base / "input" / "train"
    output_dir = args.output_dir or base / "baseline"
    names, X = load_features(input_dir)
    item_count = int(X.shape[0])
    features = [feature_statistics(name, X[:, i], seed=args.seed + i) for i, name in enumerate(names)]
    statistics = {"version": 0.0, "dataset": {"item_count": item_count}, "features": features}
    constraints = {
        "version": 0.0,
        "features": [feature_constraints(f, item_count) for f in features],
        "monitoring_config": MONITORING_CONFIG,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "statistics.json").write_text(json.dumps(statistics, indent=1) + "\n")
    (output_dir / "constraints.json").write_text(json.dumps(constraints, indent=2) + "\n")
    print(f"item_count={item_count}")
    for f in features:
        s = f["numerical_statistics"]
        print(f"{f['name']}: {f['inferred_type']} mean={s['mean']:.4f} std_dev={s['std_dev']:.4f}")
    print(f"baseline written to {output_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a Model Monitor data-quality baseline.")
    parser.add_argument("--input-dir", "--input_dir", type=Path, default=None)
    parser.add_argument("--output-dir", "--output_dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seeds the KLL sketch's coin flips")
    args = parser.parse_args(argv)
    try:
        run(args)
    except BaselineError as exc:
        report_failure(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
