"""Helpers for the CLI tests: run `sagestack` in-process or as a real process, with unique names."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result

from sagestack.cli import cli

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).parent / "sagestack"  # the installed console script
SAGESTACK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from sagestack.cli import main; main()"]
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"

# Serving code as a SageMaker user writes it for the sklearn container: model_fn only,
# the container's default input/predict/output functions do the rest.
SERVE = b'''
import os
import joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
'''


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Names:
    """Unique names per test module, passed as options (which also exercises the overrides)."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def bucket(self) -> str:
        return f"cli-{self.tag}"

    @property
    def group(self) -> str:
        return f"cli-group-{self.tag}"

    @property
    def pipeline(self) -> str:
        return f"cli-pipe-{self.tag}"

    @property
    def endpoint(self) -> str:
        return f"cli-ep-{self.tag}"

    def options(self, url: str) -> list[str]:
        return ["--endpoint-url", url, "--bucket", self.bucket, "--model-package-group", self.group,
                "--pipeline", self.pipeline, "--endpoint-name", self.endpoint]


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    """Run the CLI in this process (fast: no interpreter start per command)."""
    return CliRunner().invoke(cli, args, env={"COLUMNS": "250", **(env or {})}, prog_name="sagestack")


def run_process(args: list[str], cwd: Path, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI as its own process, as a person would."""
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    return subprocess.run([*SAGESTACK, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


@dataclass(frozen=True)
class Stack:
    """SageStack-local in the session's localcloud: its outputs, and the options that reach it."""

    url: str
    outputs: dict[str, str]

    @property
    def options(self) -> list[str]:
        return ["--endpoint-url", self.url]

    def __getitem__(self, output: str) -> str:
        return self.outputs[output]
