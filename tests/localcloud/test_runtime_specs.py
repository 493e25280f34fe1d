"""The framework image runtimes: their definitions, how an image tag picks one, and how builds fail.

Builds that succeed are exercised by every job and endpoint test (`make test` builds the
runtimes the suite uses before it starts); here are the cases that must fail, and say why.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from localcloud.runtimes import interpreters
from localcloud.runtimes.specs import ImageSpec, all_specs, exact_pins, spec_for
from localcloud.runtimes.store import BuildError, RuntimeStore, uv_reason
from localcloud.sagemaker import images

SKLEARN = all_specs()["sagemaker-scikit-learn"]
ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn"


def _requirement_pins(spec: ImageSpec) -> dict[str, str]:
    return exact_pins(spec.requirements.read_text(), spec.python)


@pytest.mark.parametrize("version", sorted(SKLEARN))
def test_the_lock_keeps_every_pin_of_the_image(version: str) -> None:
    """The model server's own dependencies are resolved beside the image's pins and move none of them."""
    spec = SKLEARN[version]
    wanted, locked = _requirement_pins(spec), spec.pins()
    assert wanted, f"{spec.requirements} pins nothing"
    moved = {name: (pin, locked.get(name)) for name, pin in wanted.items() if locked.get(name) != pin}
    assert moved == {}
    assert "uvicorn" in locked  # ...and the model server can run


def test_the_supported_images_and_their_headline_versions() -> None:
    """What the README promises, read from the locks the runtimes are built from."""
    expected = {
        "1.2-1": ("3.9", "1.2.1", "1.24.1", "1.1.3"),
        "1.4-2": ("3.10", "1.4.2", "2.1.0", "2.3.2"),
        "1.4-2-py312": ("3.12", "1.4.2", "2.1.0", "2.3.2"),
        "1.9-0": ("3.12", "1.9.0", "2.5.1", "2.2.3"),
    }
    found = {version: (spec.python, spec.pins()["scikit-learn"], spec.pins()["numpy"], spec.pins()["pandas"])
             for version, spec in SKLEARN.items()}
    assert found == expected


@pytest.mark.parametrize("uri", [f"{ECR}:1.9-0-cpu-py3", f"{ECR}:1.9-0", "sagemaker-scikit-learn:1.9-0-cpu-py3",
                                 f"{ECR}:1.9-0-cpu-py3@sha256:{'a' * 64}"])
def test_the_tag_decides_the_runtime(uri: str) -> None:
    assert images.image_spec(uri) is SKLEARN["1.9-0"]


def test_a_py312_tag_is_not_mistaken_for_its_py310_sibling() -> None:
    assert images.image_spec(f"{ECR}:1.4-2-py312-cpu-py3") is SKLEARN["1.4-2-py312"]
    assert images.image_spec(f"{ECR}:1.4-2-cpu-py3") is SKLEARN["1.4-2"]


@pytest.mark.parametrize("uri", [f"{ECR}:0.23-1-cpu-py3", f"{ECR}:latest", ECR, f"{ECR}:1.9-0-gpu-py3"])
def test_an_unknown_tag_of_a_known_image_lists_the_supported_tags(uri: str) -> None:
    with pytest.raises(images.UnsupportedImageError) as failure:
        images.image_spec(uri)
    message = str(failure.value)
    assert message.startswith("ClientError: ")
    assert uri in message
    for tag in ("1.2-1-cpu-py3", "1.4-2-cpu-py3", "1.4-2-py312-cpu-py3", "1.9-0-cpu-py3"):
        assert tag in message


def test_an_image_of_another_repository_has_no_runtime() -> None:
    with pytest.raises(images.UnsupportedImageError, match="only SageMaker framework images"):
        images.image_spec("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-image:1")


def test_spec_for_names_the_known_runtimes() -> None:
    assert spec_for("sagemaker-scikit-learn:1.2-1") is SKLEARN["1.2-1"]
    with pytest.raises(KeyError, match=r"sagemaker-scikit-learn:1\.9-0"):
        spec_for("sagemaker-scikit-learn:9.9-9")


def test_the_users_interpreter_override_wins_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(images.OVERRIDE_ENV, f"sagemaker-scikit-learn={sys.executable},"
                                            f"sagemaker-scikit-learn:1.2-1={tmp_path / 'nothing'}")
    runtime = images.resolve_runtime(f"{ECR}:1.9-0-cpu-py3", store=RuntimeStore(tmp_path / "never-built"))
    assert runtime.python == os.path.abspath(sys.executable) and runtime.built is None
    assert "the image's pins do not apply" in runtime.description
    assert not (tmp_path / "never-built").exists()  # nothing was built for it
    with pytest.raises(images.UnsupportedImageError, match="not an executable file"):
        images.resolve_runtime(f"{ECR}:1.2-1-cpu-py3")


def test_a_build_that_cannot_get_a_package_names_it(tmp_path: Path) -> None:
    """uv's reason reaches the error: which package, and why (here: offline with an empty cache)."""
    folder = tmp_path / "images" / "sagemaker-scikit-learn" / "9.9-9"
    folder.mkdir(parents=True)
    (folder / "runtime.lock").write_text("no-such-package-for-sagestack==1.0\n")
    spec = replace(SKLEARN["1.9-0"], version="9.9-9", folder=folder, patches=())
    env = {"UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "empty-cache")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with pytest.raises(BuildError) as failure:
            RuntimeStore(tmp_path / "runtimes").ensure(spec)
    message = str(failure.value)
    assert "sagemaker-scikit-learn:9.9-9 (Python 3.12)" in message
    assert "no-such-package-for-sagestack" in message
    assert len(message) <= 1024
    assert list((tmp_path / "runtimes").glob("sagemaker-scikit-learn-9.9-9-*")) == []  # no half-built runtime


def test_a_patch_that_no_longer_applies_fails_the_build(tmp_path: Path) -> None:
    """The image's edits are checked, so a lock change that makes one meaningless is noticed."""
    from localcloud.runtimes.store import _apply

    target = tmp_path / "site" / "pkg.py"
    target.parent.mkdir()
    target.write_text("import collections.abc\n")
    with pytest.raises(BuildError, match="no longer applies"):
        _apply(target.parent.parent, "site/pkg.py", "collections.Mapping", "x", tmp_path / "gone", SKLEARN["1.9-0"])


def test_a_wrong_interpreter_override_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_PYTHON_3_9", sys.executable)  # this is 3.11, not 3.9
    with pytest.raises(ValueError, match=r"LOCALCLOUD_PYTHON_3_9=.* is not a working Python 3\.9"):
        interpreters.find_python("3.9")


def test_uv_reason_keeps_the_why_on_one_line() -> None:
    output = ("\x1b[31m\u00d7\x1b[0m Failed to build `psutil==5.7.2`\n"
              "  ├─▶ The build backend returned an error\n"
              "  ╰─▶ Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)\n")
    assert uv_reason(output) == ("Failed to build `psutil==5.7.2` The build backend returned an error "
                                 "Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)")
