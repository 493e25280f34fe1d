"""train.py as a script-mode Training job: artefacts, metrics lines, reproducibility, failures."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from training_helpers import TRAIN_ARGS, run_script

from training import train


def card(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())


def test_model_folder_holds_the_model_and_its_card(pipeline) -> None:
    model_dir, info = pipeline.model_a, card(pipeline.model_a)
    schema = json.loads((pipeline.base / "train" / "schema.json").read_text())
    assert info["target"] == "duration_minutes"
    assert info["feature_names"] == schema["features"]
    assert info["model_sha256"] == hashlib.sha256((model_dir / "model.joblib").read_bytes()).hexdigest()
    train_csv = (pipeline.base / "train" / "train.csv").read_bytes()
    assert info["data_sha256"] == hashlib.sha256(train_csv).hexdigest()
    assert info["hyperparameters"]["max_iter"] == 30
    assert info["hyperparameters"]["max_leaf_nodes"] == 15
    assert info["hyperparameters"]["seed"] == 3
    assert set(info["versions"]) >= {"python", "numpy", "pandas", "scikit-learn"}
    assert info["rows"]["train"] == len(pd.read_csv(pipeline.base / "train" / "train.csv", header=None))
    metrics = info["metrics"]
    assert 0 < metrics["train_rmse"] < 15 and 0 < metrics["validation_rmse"] < 15
    assert metrics["validation_r2"] > 0.6
    saved = json.loads((pipeline.model_a.parent / "output" / "data" / "metrics.json").read_text())
    assert saved == metrics


def test_metrics_are_printed_for_metric_definitions(pipeline) -> None:
    printed = dict(re.findall(r"^(\w+)=([0-9.eE+-]+);$", pipeline.train_a.stdout, flags=re.M))
    metrics = card(pipeline.model_a)["metrics"]
    assert {"train_rmse", "validation_rmse", "train_mae", "validation_r2"} <= set(printed)
    for key, value in printed.items():
        assert float(value) == pytest.approx(metrics[key], abs=1e-6)


def test_the_model_predicts_from_a_float_matrix_in_feature_order(pipeline) -> None:
    model = joblib.load(pipeline.model_a / "model.joblib")
    test = pd.read_csv(pipeline.base / "test" / "test.csv", header=None).to_numpy(dtype="float64")
    pred = model.predict(test[:, 1:])
    assert pred.shape == (len(test),)
    assert (
        np.sqrt(np.mean((pred - test[:, 0]) ** 2)) < 2 * card(pipeline.model_a)["metrics"]["validation_rmse"]
    )


def test_two_runs_give_identical_models_and_predictions(pipeline) -> None:
    a, b = card(pipeline.model_a), card(pipeline.model_b)
    assert a == b  # includes model_sha256: the pickles are byte-identical
    test = pd.read_csv(pipeline.base / "test" / "test.csv", header=None).to_numpy(dtype="float64")[:, 1:]
    pred_a = joblib.load(pipeline.model_a / "model.joblib").predict(test)
    pred_b = joblib.load(pipeline.model_b / "model.joblib").predict(test)
    np.testing.assert_array_equal(pred_a, pred_b)


def test_runs_without_a_validation_channel_and_with_cli_folders(pipeline, tmp_path: Path) -> None:
    channel = tmp_path / "train"
    shutil.copytree(pipeline.base / "train", channel)
    model_dir = tmp_path / "model"
    result = run_script(
        "train.py",
        tmp_path,
        [
            *TRAIN_ARGS,
            "--model_dir",
            str(model_dir),
            "--train",
            str(channel),
            "--validation",
            str(tmp_path / "none"),
        ],
        SM_OUTPUT_DATA_DIR=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr
    info = card(model_dir)
    assert "validation_rmse" not in info["metrics"] and info["validation_sha256"] is None
    # Same data and hyperparameters as the pipeline's run: same model.
    assert info["model_sha256"] == card(pipeline.model_a)["model_sha256"]


def test_empty_train_channel_fails_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train").mkdir()
    out = tmp_path / "output"
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "train"))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(out))
    assert train.main(["--max-iter", "5"]) == 1
    assert "no .csv files in the train channel" in (out / "failure").read_text()
    assert not (tmp_path / "model" / "model.joblib").exists()


def test_unknown_hyperparameter_fails_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    assert train.main(["--max-iters", "5"]) == 1
    assert "--max-iters" in (tmp_path / "failure").read_text()


def test_non_numeric_training_data_fails_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "train.csv").write_text("duration,distance\n3.0,1.0\n")
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    args = [
        "--train",
        str(tmp_path / "train"),
        "--model-dir",
        str(tmp_path / "m"),
        "--validation",
        str(tmp_path / "v"),
    ]
    assert train.main(args) == 1
    assert "not a numeric headerless CSV" in (tmp_path / "failure").read_text()


def test_hyperparameters_accept_dashes_or_underscores() -> None:
    a = train.parse_args(["--max-iter", "7", "--learning-rate", "0.05", "--max-leaf-nodes", "9"])
    b = train.parse_args(["--max_iter", "7", "--learning_rate", "0.05", "--max_leaf_nodes", "9"])
    assert train.hyperparameters(a) == train.hyperparameters(b)
    assert train.hyperparameters(a)["max_iter"] == 7


@pytest.mark.parametrize("args", [["--max-iter", "0"], ["--learning-rate", "-1"], ["--max-bins", "300"]])
def test_out_of_range_hyperparameters_are_refused(args: list[str]) -> None:
    with pytest.raises(train.TrainingError):
        train.parse_args(args)
