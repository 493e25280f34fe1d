"""Run the workload's job scripts as plain local processes, under the SageMaker contracts.

The scripts in training/ read their paths from the same environment variables the
SageMaker containers set (SM_PROCESSING_BASE_DIR, SM_MODEL_DIR, SM_CHANNEL_*), so a
local run is just those variables pointed at folders of our own. Nothing here
imports the scripts: they run exactly as they would in a job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ROOT / "training"


class StepError(RuntimeError):
    """A job script failed; the message carries the tail of its output."""


def run_script(script: str, env: dict[str, str], args: list[str] | None = None) -> str:
    """Run training/<script> with `env` added; return its stdout or raise StepError."""
    out = subprocess.run([sys.executable, str(TRAINING / script), *(args or [])], env={**os.environ, **env},
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise StepError(f"{script} failed (exit {out.returncode}):\n{(out.stderr or out.stdout)[-2000:]}")
    return out.stdout


def preprocess(raw: Path, base: Path) -> str:
    """Processing contract: <base>/input/data in, <base>/{train,validation,test} out."""
    data = base / "input" / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw, data / raw.name)
    return run_script("preprocess.py", {"SM_PROCESSING_BASE_DIR": str(base)})


def train(processed: Path, model_dir: Path, output: Path, hyperparameters: dict[str, str]) -> str:
    """Training contract: channels and model dir from SM_* variables, hyperparameters as args."""
    model_dir.mkdir(parents=True, exist_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    args = [item for name, value in hyperparameters.items() for item in (f"--{name}", value)]
    return run_script("train.py", {
        "SM_MODEL_DIR": str(model_dir), "SM_CHANNEL_TRAIN": str(processed / "train"),
        "SM_CHANNEL_VALIDATION": str(processed / "validation"), "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_OUTPUT_DIR": str(output)}, args)


def package_model(model_dir: Path, target: Path) -> Path:
    """model.tar.gz as SageMaker writes it: the model dir's files at the archive root."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return target


def evaluate(model_tar: Path, processed: Path, base: Path) -> str:
    """Processing contract: <base>/model/model.tar.gz and <base>/test in, <base>/evaluation out."""
    (base / "model").mkdir(parents=True, exist_ok=True)
    shutil.copy(model_tar, base / "model" / "model.tar.gz")
    shutil.copytree(processed / "test", base / "test", dirs_exist_ok=True)
    return run_script("evaluate.py", {"SM_PROCESSING_BASE_DIR": str(base)})
