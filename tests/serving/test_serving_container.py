"""The container image, checked statically (no Docker here), and the settings it relies on."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess

import pytest
from serving_helpers import PYTHON, ROOT, child_env

from modelserver.settings import SettingsError, resolve

DOCKERFILE = ROOT / "inference" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in instructions():
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def test_copied_sources_exist_and_pass_the_dockerignore() -> None:
    ignore = [line.strip() for line in (ROOT / "inference" / "Dockerfile.dockerignore").read_text().splitlines()]
    rules = [line for line in ignore if line and not line.startswith("#")]
    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            included = False
            for rule in rules:  # later rules win, as in Docker
                negate = rule.startswith("!")
                pattern = rule.lstrip("!").rstrip("/")
                if fnmatch.fnmatch(source.rstrip("/"), pattern):
                    included = negate
            assert included, f"{source} is excluded by Dockerfile.dockerignore"


def test_program_lands_where_the_environment_points() -> None:
    env = image_env()
    destinations = [shlex.split(rest)[-1] for keyword, rest in instructions() if keyword == "COPY"]
    assert f"{env['SAGEMAKER_SUBMIT_DIRECTORY']}/{env['SAGEMAKER_PROGRAM']}" in destinations
    assert "/opt/program/modelserver/" in destinations and env["PYTHONPATH"] == "/opt/program"


def test_image_serves_on_all_interfaces_port_8080_via_serve() -> None:
    env = image_env()
    settings = resolve({}, env)
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.workers == len(os.sched_getaffinity(0))
    assert settings.model_dir == "/opt/ml/model" and settings.timeout == 60
    found = dict(instructions())
    assert json.loads(found["ENTRYPOINT"]) == ["python", "-m", "modelserver"]
    assert json.loads(found["CMD"]) == ["serve"]
    assert found["EXPOSE"] == "8080"
    assert "/usr/local/bin/serve" in DOCKERFILE.read_text()


def test_the_image_serves_with_the_training_images_versions() -> None:
    """Python minor and every installed package come from the runtime lock of the pipeline's image."""
    from localcloud.runtimes.specs import spec_for
    from pipelines.config import SKLEARN_FRAMEWORK_VERSION

    spec = spec_for(f"sagemaker-scikit-learn:{SKLEARN_FRAMEWORK_VERSION}")
    found = instructions()
    base = next(rest for keyword, rest in found if keyword == "FROM")
    assert base == f"python:{spec.python}-slim"
    lock_copy = next(shlex.split(rest) for keyword, rest in found if keyword == "COPY" and "runtime.lock" in rest)
    assert ROOT / lock_copy[0] == spec.lock
    install = shlex.split(next(rest for keyword, rest in found if keyword == "RUN" and "pip install" in rest))
    packages = install[install.index("install") + 3:install.index("&&")]
    assert install[install.index("install") + 1:install.index("install") + 3] == ["--constraint", lock_copy[1]]
    names = {re.sub(r"\[.*\]", "", package) for package in packages}
    assert names >= {"numpy", "pandas", "scikit-learn", "uvicorn"}
    assert not any("=" in package or "<" in package for package in packages)  # versions: the lock's only
    assert names <= set(spec.pins())


def test_the_cli_defaults_to_loopback_outside_the_image() -> None:
    assert resolve({}, {}).host == "127.0.0.1"


# ------------------------------------------------------------------------------------------- settings


def test_options_beat_environment_beats_defaults() -> None:
    env = {"SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SM_MODEL_DIR": "/m"}
    settings = resolve({"port": 9100, "workers": None}, env)
    assert (settings.port, settings.workers, settings.model_dir) == (9100, 3, "/m")
    assert settings.max_payload_bytes == 6 * 1024 * 1024
    assert settings.default_accept == "application/json"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT='http': the port must be a number"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "the port must be at most 65535"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "the worker count must be at least 1"),
        ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "-1"}, "the timeout must be at least"),
        ({"MODELSERVER_BATCHING": "maybe"}, "MODELSERVER_BATCHING='maybe': use auto or off"),
    ],
)
def test_bad_settings_name_the_variable(env, message) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        resolve({}, env)


def test_serve_help_documents_every_variable() -> None:
    run = subprocess.run([PYTHON, "-m", "modelserver", "serve", "--help"], cwd=ROOT, env=child_env(),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0
    for variable in ("SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_MODEL_SERVER_WORKERS", "SAGEMAKER_MODEL_SERVER_TIMEOUT",
                     "SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY", "SM_MODEL_DIR", "MODELSERVER_HOST",
                     "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"):  # fmt: skip
        assert variable in run.stdout
