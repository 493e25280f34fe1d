"""SageMaker Training entry point (script mode): fit the trip-duration regressor.

Why it looks like this: the scikit-learn framework container runs it as
``python train.py --max-iter 200 ...`` with the job's hyperparameters as
command-line arguments and the folders in ``SM_*`` variables, so:

* hyperparameters: ``--max-iter``, ``--learning-rate``, ``--max-leaf-nodes``,
  ``--max-depth`` (0 = unlimited), ``--min-samples-leaf``,
  ``--l2-regularization``, ``--max-bins``, ``--loss``, ``--seed`` (dashes or
  underscores both work);
* folders: ``--model-dir`` (``SM_MODEL_DIR``, ``/opt/ml/model``), ``--train``
  (``SM_CHANNEL_TRAIN``, ``/opt/ml/input/data/train``), ``--validation``
  (``SM_CHANNEL_VALIDATION``, ``/opt/ml/input/data/validation``; optional),
  ``--output-data-dir`` (``SM_OUTPUT_DATA_DIR``, ``/opt/ml/output/data``).

Channels hold the headerless CSVs written by preprocess.py (target first) and
their ``schema.json``. The model folder receives ``model.joblib`` (a fitted
``HistGradientBoostingRegressor``; ``predict`` takes a 2-D float array with
columns in ``feature_names`` order) and ``model.json`` (feature names, target,
``model_sha256``, hyperparameters, ``data_sha256``, library versions, metrics).
Anyone loading the model must check ``sha256(model.joblib)`` against
``model.json["model_sha256"]`` before unpickling it.

Metrics are printed as ``train_rmse=1.234;`` lines for MetricDefinitions regexes
such as ``train_rmse=([0-9.]+);``. Early stopping is off and the seed fixes the
estimator's randomness, so the same data, hyperparameters and seed give the same
predictions (and the same model bytes). On failure the reason goes to stderr and
to ``<SM_OUTPUT_DIR or /opt/ml/output>/failure`` (the default only when
``/opt/ml`` exists), and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "duration_minutes"
LOSSES = ("squared_error", "absolute_error", "poisson", "gamma")


class TrainingError(Exception):
    """A problem with the job's input or arguments; the message is shown to the user as is."""


def report_failure(message: str, file_name: str = "failure") -> None:
    """Print to stderr and keep the reason where SageMaker turns it into FailureReason."""
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Train the trip-duration regressor.")
    hp = parser.add_argument_group("hyperparameters")
    hp.add_argument("--max-iter", "--max_iter", type=int, default=200)
    hp.add_argument("--learning-rate", "--learning_rate", type=float, default=0.1)
    hp.add_argument("--max-leaf-nodes", "--max_leaf_nodes", type=int, default=31)
    hp.add_argument("--max-depth", "--max_depth", type=int, default=0, help="0 means unlimited")
    hp.add_argument("--min-samples-leaf", "--min_samples_leaf", type=int, default=20)
    hp.add_argument("--l2-regularization", "--l2_regularization", type=float, default=0.0)
    hp.add_argument("--max-bins", "--max_bins", type=int, default=255)
    hp.add_argument("--loss", choices=LOSSES, default="squared_error")
    hp.add_argument("--seed", type=int, default=42)
    dirs = parser.add_argument_group("folders")
    dirs.add_argument(
        "--model-dir", "--model_dir", type=Path, default=Path(env("SM_MODEL_DIR", "/opt/ml/model"))
    )
    dirs.add_argument("--train", type=Path, default=Path(env("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")))
    dirs.add_argument(
        "--validation", type=Path, default=Path(env("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    )
    dirs.add_argument(
        "--output-data-dir",
        "--output_data_dir",
        type=Path,
        default=Path(env("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
    )
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise TrainingError(f"unknown hyperparameter(s) or argument(s): {' '.join(unknown)}")
    checks = [
        (args.max_iter >= 1, "--max-iter must be >= 1"),
        (args.learning_rate > 0, "--learning-rate must be > 0"),
        (args.max_leaf_nodes >= 2, "--max-leaf-nodes must be >= 2"),
        (args.max_depth >= 0, "--max-depth must be >= 0"),
        (args.min_samples_leaf >= 1, "--min-samples-leaf must be >= 1"),
        (args.l2_regularization >= 0, "--l2-regularization must be >= 0"),
        (2 <= args.max_bins <= 255, "--max-bins must be within 2..255"),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingError(message)
    return args


def hyperparameters(args: argparse.Namespace) -> dict[str, object]:
    return {
        "max_iter": args.max_iter,
        "learning_rate": args.learning_rate,
        "max_leaf_nodes": args.max_leaf_nodes,
        "max_depth": args.max_depth,
        "min_samples_leaf": args.min_samples_leaf,
        "l2_regularization": args.l2_regularization,
        "max_bins": args.max_bins,
        "loss": args.loss,
        "seed": args.seed,
    }


def csv_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []


def sha256_files(paths: list[Path]) -> str:
    """sha256 of the files' bytes concatenated in order (for one file: ``sha256sum`` of it)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def feature_names(folder: Path, n_columns: int) -> list[str]:
    """Names from the channel's schema.json; generic ``f0..`` names when a channel has none."""
    schema_path = folder / "schema.json"
    if not schema_path.is_file():
        print(f"note: no schema.json in {folder}; naming features f0..f{n_columns - 2}")
        return [f"f{i}" for i in range(n_columns - 1)]
    try:
        schema = json.loads(schema_path.read_text())
        names = [str(n) for n in schema["features"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{schema_path}: not a valid schema ({exc})") from exc
    if schema.get("target", TARGET) != TARGET:
        raise TrainingError(f"{schema_path}: target is {schema.get('target')!r}, expected {TARGET!r}")
    if len(names) != n_columns - 1:
        raise TrainingError(f"{schema_path} lists {len(names)} features but the CSV has {n_columns - 1}")
    return names


def load_matrix(paths: list[Path], channel: str) -> tuple[np.ndarray, np.ndarray]:
    """Headerless CSVs (target first) -> (X, y) float64; NaN features are allowed, NaN targets are not."""
    frames = []
    for path in paths:
        if path.stat().st_size == 0:
            continue
        try:
            frames.append(pd.read_csv(path, header=None, dtype="float64"))
        except (ValueError, pd.errors.ParserError) as exc:
            raise TrainingError(
                f"{channel} channel: {path.name} is not a numeric headerless CSV ({exc})"
            ) from exc
    if not frames:
        return np.empty((0, 0)), np.empty(0)
    widths = {f.shape[1] for f in frames}
    if len(widths) != 1:
        raise TrainingError(f"{channel} channel: files have different column counts {sorted(widths)}")
    data = pd.concat(frames, ignore_index=True).to_numpy(dtype="float64")
    if data.shape[1] < 2:
        raise TrainingError(f"{channel} channel: need a target column and at least one feature")
    y = data[:, 0]
    if not np.isfinite(y).all():
        raise TrainingError(f"{channel} channel: the target column has missing or infinite values")
    return data[:, 1:], y


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - y
    mse = float(np.mean(err**2))
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": mse**0.5,
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float(np.sum(err**2)) / total if total > 0 else 0.0,
    }


def versions() -> dict[str, str]:
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }


def run(args: argparse.Namespace) -> dict[str, float]:
    import joblib
    from sklearn.ensemble import HistGradientBoostingRegressor

    train_files = csv_files(args.train)
    if not train_files:
        raise TrainingError(f"no .csv files in the train channel {args.train}")
    X, y = load_matrix(train_files, "train")
    if len(y) < 2:
        raise TrainingError(f"train channel {args.train} has fewer than 2 rows")
    names = feature_names(args.train, X.shape[1] + 1)
    if args.loss in ("poisson", "gamma") and (y <= 0).any():
        raise TrainingError(f"--loss {args.loss} needs a positive target")

    val_files = csv_files(args.validation)
    X_val, y_val = load_matrix(val_files, "validation") if val_files else (np.empty((0, 0)), np.empty(0))
    if len(y_val) and X_val.shape[1] != X.shape[1]:
        raise TrainingError(f"validation has {X_val.shape[1]} features, train has {X.shape[1]}")

    params = hyperparameters(args)
    model = HistGradientBoostingRegressor(
        loss=args.loss,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        max_leaf_nodes=args.max_leaf_nodes,
        max_depth=args.max_depth or None,
        min_samples_leaf=args.min_samples_leaf,
        l2_regularization=args.l2_regularization,
        max_bins=args.max_bins,
        early_stopping=False,
        random_state=args.seed,
    )
    print(f"training on {len(y)} rows x {X.shape[1]} features; validation rows: {len(y_val)}")
    model.fit(X, y)

    metrics = {f"train_{k}": v for k, v in regression_metrics(y, model.predict(X)).items()}
    if len(y_val):
        metrics.update(
            {f"validation_{k}": v for k, v in regression_metrics(y_val, model.predict(X_val)).items()}
        )
    for key, value in metrics.items():
        print(f"{key}={value:.6f};")

    args.model_dir.mkdir(parents=True, exist_ok=True)
    model_path = args.model_dir / "model.joblib"
    partial = args.model_dir / "model.joblib.partial"
    joblib.dump(model, partial)
    partial.replace(model_path)
    card = {
        "target": TARGET,
        "feature_names": names,
        "estimator": type(model).__name__,
        "model_file": model_path.name,
        "model_sha256": sha256_files([model_path]),
        "hyperparameters": params,
        "data_sha256": sha256_files(train_files),
        "data_files": [p.name for p in train_files],
        "validation_sha256": sha256_files(val_files) if val_files else None,
        "rows": {"train": len(y), "validation": len(y_val)},
        "versions": versions(),
        "metrics": metrics,
    }
    (args.model_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    args.output_data_dir.mkdir(parents=True, exist_ok=True)
    (args.output_data_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"model written to {model_path} (sha256 {card['model_sha256']})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except TrainingError as exc:
        report_failure(str(exc))
        return 1
    except Exception as exc:  # anything unexpected must still reach FailureReason
        report_failure(f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
