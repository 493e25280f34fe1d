"""Session fixture: one small generated month through preprocess -> train (twice) -> evaluate -> baseline.

Tests assert on what each step left behind, so every script runs once per session.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from training_helpers import TRAIN_ARGS, TRIPS, Result, make_tarball, run_script

from training.datagen import generate_month, write_parquet


@dataclass
class Pipeline:
    base: Path
    preprocess: Result
    train_a: Result
    train_b: Result
    model_a: Path
    model_b: Path
    evaluate: Result
    baseline: Result


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    base = tmp_path_factory.mktemp("processing")
    write_parquet(
        generate_month(2024, 3, TRIPS, seed=11), base / "input" / "data" / "yellow_tripdata_2024-03.parquet"
    )
    pre = run_script("preprocess.py", base, ["--seed", "5"], SM_PROCESSING_BASE_DIR=str(base))
    assert pre.returncode == 0, pre.stderr

    runs = []
    for label in ("a", "b"):
        job = tmp_path_factory.mktemp(f"training-{label}")
        result = run_script(
            "train.py",
            job,
            TRAIN_ARGS,
            SM_MODEL_DIR=str(job / "model"),
            SM_CHANNEL_TRAIN=str(base / "train"),
            SM_CHANNEL_VALIDATION=str(base / "validation"),
            SM_OUTPUT_DATA_DIR=str(job / "output" / "data"),
            SM_OUTPUT_DIR=str(job / "output"),
        )
        assert result.returncode == 0, result.stderr
        runs.append((result, job / "model"))

    make_tarball(runs[0][1], base / "model" / "model.tar.gz")
    ev = run_script("evaluate.py", base, [], SM_PROCESSING_BASE_DIR=str(base))
    assert ev.returncode == 0, ev.stderr

    shutil.copytree(base / "train", base / "input" / "train")
    bl = run_script("baseline.py", base, [], SM_PROCESSING_BASE_DIR=str(base))
    assert bl.returncode == 0, bl.stderr
    return Pipeline(base, pre, runs[0][0], runs[1][0], runs[0][1], runs[1][1], ev, bl)
