"""SageMaker Processing step: score the trained model on the held-out test split.

Why it looks like this: it is the single file of a Processing job whose inputs
are the training job's ``model.tar.gz`` and preprocess.py's test split, and
whose output is read by a pipeline Condition step (``JsonGet`` on
``regression_metrics.rmse.value``) and by the model registry (ModelMetrics).

* ``<base>/model/model.tar.gz``: extracted into a private temporary folder;
  members with absolute paths, ``..``, links or device files are refused
  before anything is written. (A ``<base>/model`` folder that already holds
  ``model.joblib`` + ``model.json`` is used as is.)
* ``sha256(model.joblib)`` must equal ``model.json["model_sha256"]``, checked
  before the pickle is loaded: a tampered or swapped model is never executed.
* ``<base>/test/*.csv``: headerless, target first, features in
  ``model.json["feature_names"]`` order (checked against ``schema.json`` when
  present).
* ``<base>/evaluation/evaluation.json``: SageMaker's regression layout,
  ``{"regression_metrics": {"mse"|"rmse"|"mae"|"r2": {"value", "standard_deviation"}}}``, plus
  ``{"model": {"sha256": ...}}``, the digest of the model.joblib these metrics are for (the
  pipeline registers it with the model package, and endpoints refuse any other artifact), with
  the model's lineage from model.json (``data_sha256``, ``hyperparameters``, ``versions``).
  ``standard_deviation`` is the spread of the metric over ``--bootstrap-samples``
  (default 200) resamples of the test rows drawn with ``--seed`` (default 0),
  so it is a finite, reproducible number; with fewer than 2 rows it is 0.0.
* ``<base>/evaluation/quality_constraints.json``: the model-quality baseline Model Monitor's
  model-quality job checks live predictions against (``{"version": 0.0, "regression_constraints":
  {metric: {"threshold", "comparison_operator"}}}``): a window whose mae or rmse is more than
  ``--quality-tolerance`` (default 0.25, i.e. 25 %) above the test value, whose mse is above the
  same allowance squared, or whose r2 is more than that fraction of the test r2 below it, is a
  violation. The pipeline registers it as the package's DriftCheckBaselines.ModelQuality.

``<base>`` is ``/opt/ml/processing`` unless ``SM_PROCESSING_BASE_DIR`` is set.
Errors go to stderr and ``<SM_OUTPUT_DIR or /opt/ml/output>/message`` (the
default only when ``/opt/ml`` exists), exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
CARD_FILE = "model.json"


class EvaluationError(Exception):
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


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse anything that could land outside the extraction folder or is not a plain file/folder."""
    name = member.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise EvaluationError(f"model archive member {name!r} has an absolute path")
    if ".." in path.parts or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise EvaluationError(f"model archive member {name!r} escapes the extraction folder")
    if not (member.isfile() or member.isdir()):
        raise EvaluationError(f"model archive member {name!r} is not a regular file or folder")


def extract_model(archive: Path, dest: Path) -> Path:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.8.17: a second line of defence
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=members)  # every member was checked above
    except tarfile.TarError as exc:
        raise EvaluationError(f"{archive.name} is not a readable tar archive ({exc})") from exc
    if (dest / MODEL_FILE).is_file():
        return dest
    found = sorted(p.parent for p in dest.rglob(MODEL_FILE))
    if len(found) != 1:
        raise EvaluationError(f"{archive.name} holds {len(found)} {MODEL_FILE} files; expected exactly one")
    return found[0]


LINEAGE = ("data_sha256", "hyperparameters", "versions")
"""What evaluation.json's "model" repeats from model.json, besides the digest."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_verified_model(model_dir: Path) -> tuple[object, dict]:
    """Load model.joblib only after its sha256 matches the one recorded in model.json."""
    card_path, model_path = model_dir / CARD_FILE, model_dir / MODEL_FILE
    if not card_path.is_file() or not model_path.is_file():
        raise EvaluationError(f"model folder must hold {MODEL_FILE} and {CARD_FILE}")
    try:
        card = json.loads(card_path.read_text())
        expected = str(card["model_sha256"]).lower()
        names = [str(n) for n in card["feature_names"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvaluationError(f"{CARD_FILE} is not a valid model card ({exc})") from exc
    actual = sha256_file(model_path)
    if actual != expected:
        raise EvaluationError(
            f"{MODEL_FILE} sha256 {actual} does not match {CARD_FILE} model_sha256 {expected}; "
            "refusing to load it"
        )
    import joblib

    card["feature_names"] = names
    return joblib.load(model_path), card


def load_test(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise EvaluationError(f"no .csv files in {folder}")
    schema_path = folder / "schema.json"
    if schema_path.is_file():
        try:
            schema_features = [str(n) for n in json.loads(schema_path.read_text())["features"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluationError(f"{schema_path}: not a valid schema ({exc})") from exc
        if schema_features != names:
            raise EvaluationError(f"test schema features {schema_features} differ from the model's {names}")
    frames = []
    for path in files:
        if path.stat().st_size == 0:
            continue
        try:
            frames.append(pd.read_csv(path, header=None, dtype="float64"))
        except (ValueError, pd.errors.ParserError) as exc:
            raise EvaluationError(f"{path.name} is not a numeric headerless CSV ({exc})") from exc
    if not frames:
        raise EvaluationError(f"the test files in {folder} are empty")
    data = pd.concat(frames, ignore_index=True).to_numpy(dtype="float64")
    if data.shape[1] != len(names) + 1:
        raise EvaluationError(f"test data has {data.shape[1] - 1} features, the model expects {len(names)}")
    y = data[:, 0]
    if not np.isfinite(y).all():
        raise EvaluationError("the test target column has missing or infinite values")
    return data[:, 1:], y


def metric_values(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - y
    mse = float(np.mean(err**2))
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float(np.sum(err**2)) / total if total > 0 else 0.0,
    }


def evaluate(y: np.ndarray, pred: np.ndarray, samples: int, seed: int) -> dict[str, dict[str, float]]:
    """Point metrics plus their bootstrap standard deviation."""
    point = metric_values(y, pred)
    spread = dict.fromkeys(point, 0.0)
    if len(y) >= 2 and samples >= 2:
        rng = np.random.default_rng(seed)
        draws = {k: np.empty(samples) for k in point}
        for i in range(samples):
            pick = rng.integers(0, len(y), len(y))
            for key, value in metric_values(y[pick], pred[pick]).items():
                draws[key][i] = value
        spread = {k: float(np.std(v, ddof=1)) for k, v in draws.items()}
    return {k: {"value": point[k], "standard_deviation": spread[k]} for k in ("mse", "rmse", "mae", "r2")}


def quality_constraints(metrics: dict[str, dict[str, float]], tolerance: float) -> dict:
    """Thresholds a live window's metrics may not cross: the test metrics worsened by `tolerance`."""
    worse = 1.0 + tolerance

    def rule(threshold: float, operator: str) -> dict:
        return {"threshold": threshold, "comparison_operator": operator}

    return {"version": 0.0, "regression_constraints": {
        "mae": rule(metrics["mae"]["value"] * worse, "GreaterThanThreshold"),
        "mse": rule(metrics["mse"]["value"] * worse**2, "GreaterThanThreshold"),
        "rmse": rule(metrics["rmse"]["value"] * worse, "GreaterThanThreshold"),
        "r2": rule(metrics["r2"]["value"] - tolerance * abs(metrics["r2"]["value"]), "LessThanThreshold"),
    }}


def run(args: argparse.Namespace) -> dict:
    base = base_dir()
    model_input = base / "model"
    with tempfile.TemporaryDirectory(prefix="evaluate-model-") as tmp:
        if (model_input / MODEL_FILE).is_file():
            model_dir = model_input
        else:
            archive = model_input / "model.tar.gz"
            if not archive.is_file():
                raise EvaluationError(f"no model.tar.gz (or {MODEL_FILE}) in {model_input}")
            model_dir = extract_model(archive, Path(tmp))
        model, card = load_verified_model(model_dir)
        X, y = load_test(base / "test", card["feature_names"])
        pred = np.asarray(model.predict(X), dtype="float64")
    # The digest this evaluation vouches for: the registry records it and endpoints pin it. The model's
    # lineage (its training data's digest, hyperparameters, library versions) travels with it, so the
    # registry shows where a version came from without opening its artifact.
    report = {"regression_metrics": evaluate(y, pred, args.bootstrap_samples, args.seed),
              "model": {"sha256": card["model_sha256"], **{k: card[k] for k in LINEAGE if k in card}}}
    out = base / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    constraints = quality_constraints(report["regression_metrics"], args.quality_tolerance)
    (out / "quality_constraints.json").write_text(json.dumps(constraints, indent=2) + "\n")
    print(f"test_rows={len(y)}")
    for key, entry in report["regression_metrics"].items():
        print(f"test_{key}={entry['value']:.6f}; (sd {entry['standard_deviation']:.6f})")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the trained model on the test split.")
    parser.add_argument("--bootstrap-samples", "--bootstrap_samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality-tolerance", "--quality_tolerance", type=float, default=0.25,
                        help="how much worse than on the test split live metrics may get (fraction)")
    args = parser.parse_args(argv)
    if args.bootstrap_samples < 0:
        parser.error("--bootstrap-samples must be >= 0")
    if not 0.0 <= args.quality_tolerance <= 10.0 or math.isnan(args.quality_tolerance):
        parser.error("--quality-tolerance must be within [0, 10]")
    try:
        run(args)
    except EvaluationError as exc:
        report_failure(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
