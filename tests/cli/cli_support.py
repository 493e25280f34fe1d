"""Helpers for the CLI tests: run `sagestack` in-process or as a real process, with unique names."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from click.testing import CliRunner, Result
from sklearn.linear_model import LinearRegression

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


def _model_joblib() -> bytes:
    """y = 2a - b + c/2 + 3, fitted exactly."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    y = 2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + 3
    buf = io.BytesIO()
    joblib.dump(LinearRegression().fit(X, y), buf)
    return buf.getvalue()


MODEL = _model_joblib()
PIN = hashlib.sha256(MODEL).hexdigest()
BROKEN = SERVE + b'''

def predict_fn(data, model):
    raise RuntimeError("this model fails every request")
'''
"""Serving code that loads the model and fails every request (what a rollback must catch)."""
SOURCE, BROKEN_SOURCE = "m/sourcedir.tar.gz", "m/broken.tar.gz"


def upload_models(cloud: Any, bucket: str) -> None:
    """The model and its two serving codes (good, and failing every request) into `bucket`, made here."""
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=tarball({"model.joblib": MODEL}))
    s3.put_object(Bucket=bucket, Key=SOURCE, Body=tarball({"serve.py": SERVE}))
    s3.put_object(Bucket=bucket, Key=BROKEN_SOURCE, Body=tarball({"serve.py": BROKEN}))


def add_package(cloud: Any, group: str, bucket: str, pin: str | None = PIN, metadata_pin: str | None = PIN,
                approved: bool = False, source: str = SOURCE) -> dict[str, Any]:
    """A package as the pipeline registers it: the model digest in its metadata and serving environment."""
    environment = {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/{source}"}
    if pin:
        environment["SAGESTACK_MODEL_SHA256"] = pin
    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{bucket}/m/model.tar.gz", "Environment": environment}
    sm = cloud.client("sagemaker")
    extra: dict[str, Any] = {"CustomerMetadataProperties": {"sagestack:model-sha256": metadata_pin}} \
        if metadata_pin else {}
    arn = sm.create_model_package(ModelPackageGroupName=group,
                                  ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
                                  InferenceSpecification={"Containers": [container],
                                                          "SupportedContentTypes": ["text/csv", "application/json"],
                                                          "SupportedResponseMIMETypes": ["text/csv"]}, **extra)
    return sm.describe_model_package(ModelPackageName=arn["ModelPackageArn"])


@contextlib.contextmanager
def console(args: list[str]) -> Iterator[str]:
    """`sagestack <args> console` as its own process; yields the address it printed, stops it with Ctrl-C."""
    proc = subprocess.Popen([*SAGESTACK, *args, "console"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "COLUMNS": "250"})
    try:
        assert proc.stdout is not None
        said, found = "", None
        while found is None:  # the line that names the console's address
            line = proc.stdout.readline()
            assert line, f"the console ended before it served: {said}"
            said += line
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        yield found.group(0)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
