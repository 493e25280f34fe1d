"""Helpers that run the training job scripts the way SageMaker does.

A copy of the single script file goes into a code folder and is started with
the project's Python as a plain file, its folders given through the SM_*
variables: no package import can sneak in through the working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import training

SCRIPTS = Path(training.__file__).parent
TRIPS = 5000
TRAIN_ARGS = ["--max-iter", "30", "--max-leaf-nodes", "15", "--seed", "3"]
# Bytecode of numpy/pandas/sklearn is cached across runs here: the environment may forbid writing it
# next to the sources, and compiling sklearn on every subprocess would cost seconds each.
PYCACHE = Path(tempfile.gettempdir()) / "sagestack-training-tests-pycache"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def job_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without SM_* leftovers, plus the job's own variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(overrides)
    return env


def run_script(name: str, workdir: Path, args: list[str] | None = None, **env: str) -> Result:
    """Copy ``training/<name>`` into ``workdir/code`` and run it there as a job would."""
    code = workdir / "code"
    code.mkdir(parents=True, exist_ok=True)
    script = code / name
    shutil.copyfile(SCRIPTS / name, script)
    proc = subprocess.run(
        [sys.executable, str(script), *(args or [])],
        cwd=workdir,
        env=job_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def make_tarball(model_dir: Path, archive: Path) -> None:
    """Pack a model folder the way SageMaker does: its files at the archive's root."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
