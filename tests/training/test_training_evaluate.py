"""evaluate.py as a Processing job: the evaluation report and refusing unsafe or tampered models."""

from __future__ import annotations

import io
import json
import math
import shutil
import tarfile
from pathlib import Path

import pytest
from training_helpers import make_tarball, run_script

from training import evaluate


def test_evaluation_report_has_the_regression_layout(pipeline) -> None:
    report = json.loads((pipeline.base / "evaluation" / "evaluation.json").read_text())
    assert list(report) == ["regression_metrics", "model"]
    card = json.loads((pipeline.model_a / "model.json").read_text())
    assert report["model"]["sha256"] == card["model_sha256"]  # the digest the registry will pin
    lineage = {k: card[k] for k in ("data_sha256", "hyperparameters", "versions")}
    assert {k: report["model"][k] for k in lineage} == lineage  # where the model came from, for the registry
    metrics = report["regression_metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "r2"}
    for entry in metrics.values():
        assert set(entry) == {"value", "standard_deviation"}
        assert math.isfinite(entry["value"]) and math.isfinite(entry["standard_deviation"])
        assert 0 < entry["standard_deviation"] < abs(entry["value"])
    assert metrics["rmse"]["value"] ** 2 == pytest.approx(metrics["mse"]["value"])
    assert metrics["mae"]["value"] <= metrics["rmse"]["value"]
    assert 0.6 < metrics["r2"]["value"] < 1
    validation_rmse = json.loads((pipeline.model_a / "model.json").read_text())["metrics"]["validation_rmse"]
    assert metrics["rmse"]["value"] == pytest.approx(validation_rmse, rel=0.3)
    assert "test_rmse=" in pipeline.evaluate.stdout


def test_quality_constraints_let_the_test_metrics_pass_and_flag_a_worse_window(pipeline) -> None:
    """The model-quality baseline evaluate.py writes is what Model Monitor's analyzer checks (its format)."""
    from localcloud.model_monitor import model_quality

    folder = pipeline.base / "evaluation"
    constraints = json.loads((folder / "quality_constraints.json").read_text())
    metrics = json.loads((folder / "evaluation.json").read_text())["regression_metrics"]
    rules = constraints["regression_constraints"]
    assert constraints["version"] == 0.0 and set(rules) == {"mae", "mse", "rmse", "r2"}
    assert rules["rmse"] == {"threshold": pytest.approx(metrics["rmse"]["value"] * 1.25),
                             "comparison_operator": "GreaterThanThreshold"}
    assert rules["mse"]["threshold"] == pytest.approx(metrics["mse"]["value"] * 1.25 ** 2)
    assert rules["r2"]["comparison_operator"] == "LessThanThreshold"
    assert model_quality.violations(metrics, constraints) == []
    worse = {name: {"value": entry["value"] * (0.5 if name == "r2" else 1.3 ** (2 if name == "mse" else 1))}
             for name, entry in metrics.items()}
    assert {v.metric_name for v in model_quality.violations(worse, constraints)} == {"mae", "mse", "rmse", "r2"}


def test_quality_tolerance_out_of_range_is_refused(pipeline) -> None:
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--quality-tolerance", "-1"])
    assert exit_info.value.code == 2


def evaluation_job(pipeline, tmp_path: Path) -> Path:
    """A fresh processing folder with the pipeline's test split and no model yet."""
    base = tmp_path / "processing"
    shutil.copytree(pipeline.base / "test", base / "test")
    (base / "model").mkdir(parents=True)
    return base


def test_tampered_model_is_refused_before_loading(pipeline, tmp_path: Path) -> None:
    base = evaluation_job(pipeline, tmp_path)
    model = tmp_path / "tampered"
    shutil.copytree(pipeline.model_a, model)
    with (model / "model.joblib").open("ab") as fh:
        fh.write(b"\x00")
    make_tarball(model, base / "model" / "model.tar.gz")
    result = run_script(
        "evaluate.py", base, SM_PROCESSING_BASE_DIR=str(base), SM_OUTPUT_DIR=str(base / "out")
    )
    assert result.returncode == 1
    assert "does not match model.json model_sha256" in result.stderr
    assert "refusing to load" in (base / "out" / "message").read_text()
    assert not (base / "evaluation").exists()


def test_archive_escaping_its_folder_is_refused(
    pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = evaluation_job(pipeline, tmp_path)
    with tarfile.open(base / "model" / "model.tar.gz", "w:gz") as tar:
        for path in sorted(pipeline.model_a.iterdir()):
            tar.add(path, arcname=path.name)
        payload = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setenv("SM_PROCESSING_BASE_DIR", str(base))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(base / "out"))
    assert evaluate.main([]) == 1
    assert "escapes the extraction folder" in (base / "out" / "message").read_text()
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (base / "evaluation").exists()


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("/etc/model.joblib", tarfile.REGTYPE, "absolute path"),
        ("sub/../../x", tarfile.REGTYPE, "escapes"),
        ("model.joblib", tarfile.SYMTYPE, "not a regular file"),
        ("model.joblib", tarfile.LNKTYPE, "not a regular file"),
        ("fifo", tarfile.FIFOTYPE, "not a regular file"),
    ],
)
def test_unsafe_members_are_refused(name: str, kind: bytes, message: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    with pytest.raises(evaluate.EvaluationError, match=message):
        evaluate.check_member(member)


def test_missing_model_is_a_clear_error(pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = evaluation_job(pipeline, tmp_path)
    monkeypatch.setenv("SM_PROCESSING_BASE_DIR", str(base))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(base / "out"))
    assert evaluate.main([]) == 1
    assert "no model.tar.gz" in (base / "out" / "message").read_text()


def test_bootstrap_spread_is_reproducible_and_shrinks_with_more_rows() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.normal(20, 5, 4000)
    pred = y + rng.normal(0, 2, 4000)
    first = evaluate.evaluate(y, pred, samples=100, seed=1)
    assert first == evaluate.evaluate(y, pred, samples=100, seed=1)
    small = evaluate.evaluate(y[:400], pred[:400], samples=100, seed=1)
    assert first["rmse"]["standard_deviation"] < small["rmse"]["standard_deviation"]
    assert first["rmse"]["value"] == pytest.approx(2.0, rel=0.05)
    single = evaluate.evaluate(y[:1], pred[:1], samples=100, seed=1)
    assert single["rmse"]["standard_deviation"] == 0.0
