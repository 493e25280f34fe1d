"""Which local runtime stands in for a job's container image.

There is no container engine on the machines localcloud targets, so a job cannot run
its image. SageMaker's *framework* images are, for a script, little more than a Python
with the framework's packages plus the container contract (paths, env vars), so they
map to a local interpreter that has those packages. Everything else (custom images,
built-in algorithms) has no faithful local stand-in and must fail loudly, naming the
image, rather than run something that merely looks similar.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

__all__ = ["FRAMEWORK_IMAGES", "FrameworkImage", "Runtime", "UnsupportedImageError", "repository_of",
           "resolve_runtime"]


class UnsupportedImageError(Exception):
    """The image cannot run here; the message is fit to be a job's FailureReason."""


@dataclass(frozen=True)
class FrameworkImage:
    """A family of framework images and how to find a local interpreter for it."""

    framework: str
    python_env: str
    """Environment variable naming the interpreter; unset means this process's own Python."""


FRAMEWORK_IMAGES: dict[str, FrameworkImage] = {
    "sagemaker-scikit-learn": FrameworkImage("scikit-learn", "LOCALCLOUD_SKLEARN_PYTHON"),
}
"""ECR repository name -> framework. Add a row to map another framework family."""


@dataclass(frozen=True)
class Runtime:
    """The local interpreter a job runs on instead of its image."""

    framework: str
    python: str


# <registry>/<repository>[:tag][@digest]; the registry part contains a dot or a colon.
_TAG_OR_DIGEST = re.compile(r"(@[A-Za-z0-9_+.-]+:[0-9a-fA-F]+|:[\w][\w.-]{0,127})$")


def repository_of(image_uri: str) -> str:
    """The repository name of an image URI, without registry, tag or digest.

    `683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3`
    -> `sagemaker-scikit-learn`.
    """
    name = image_uri.strip()
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        name = rest
    return _TAG_OR_DIGEST.sub("", name)


def resolve_runtime(image_uri: str | None) -> Runtime:
    """The local runtime for `image_uri`, or UnsupportedImageError saying why there is none."""
    if not image_uri:
        raise UnsupportedImageError("ClientError: the job names no container image (ImageUri/TrainingImage)")
    family = FRAMEWORK_IMAGES.get(repository_of(image_uri))
    if family is None:
        known = ", ".join(sorted(FRAMEWORK_IMAGES))
        raise UnsupportedImageError(
            f"ClientError: image {image_uri} cannot run locally: no container runtime is available, and only "
            f"SageMaker framework images ({known}) map to a local Python runtime")
    python = os.environ.get(family.python_env) or sys.executable
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise UnsupportedImageError(
            f"ClientError: image {image_uri} maps to the local {family.framework} runtime, but its "
            f"interpreter {python!r} (from {family.python_env}) is not an executable file")
    return Runtime(framework=family.framework, python=os.path.abspath(python))
