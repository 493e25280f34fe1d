"""Which local runtime stands in for a job's or a model's container image.

There is no container engine on the machines localcloud targets, so a job cannot run its
image. SageMaker's *framework* images are, for a script, a Python with pinned packages plus
the container contract (paths, env vars), so each image version maps to a Python environment
built from that image's own pins (`localcloud.runtimes`): the image tag decides the runtime, as
it does on AWS. Everything else (custom images, built-in algorithms, unknown versions) has no
faithful local stand-in and fails loudly, naming the image and what is supported, rather than
run on something that merely looks similar.

`LOCALCLOUD_IMAGE_PYTHON` points images at an interpreter of the user's own instead, used as it
is: `sagemaker-scikit-learn:1.9-0=/path/to/python` for one version, `sagemaker-scikit-learn=...`
for all of a repository's versions; several entries separated by commas.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcloud.runtimes.specs import ImageSpec, all_specs
from localcloud.runtimes.store import BuildError, BuiltRuntime, RuntimeStore

__all__ = ["OVERRIDE_ENV", "Runtime", "UnsupportedImageError", "image_spec", "repository_of", "resolve_runtime",
           "supported_tags"]

OVERRIDE_ENV = "LOCALCLOUD_IMAGE_PYTHON"
PROCESSOR_SUFFIX = "-cpu-py3"
"""The published tags of a version: `<version>-cpu-py3` (and the bare `<version>`)."""


class UnsupportedImageError(Exception):
    """The image cannot run here; the message is fit to be a job's FailureReason."""


@dataclass(frozen=True)
class Runtime:
    """The local interpreter a job or model server runs on instead of its image."""

    image: str
    python: str
    description: str
    """For logs: which runtime and what it contains (Python and library versions)."""
    built: BuiltRuntime | None = None
    """None when the user pointed the image at an interpreter of their own, or for a built-in image."""
    command: tuple[str, ...] = ()
    """A built-in image's own entry point (what it runs when the job names none)."""
    pythonpath: str | None = None
    """Where a built-in image's program lives (localcloud's own package folder)."""


BUILT_IN_IMAGES = {
    "sagemaker-model-monitor-analyzer": ("localcloud.model_monitor",
                                         "localcloud's implementation of Model Monitor's analyzer contract"),
}
"""Images whose documented contract localcloud implements itself: repository -> (module, what it is)."""


def _name_and_tag(image_uri: str) -> tuple[str, str | None]:
    """`<registry>/<repository>[:tag][@digest]` -> (repository, tag); the registry part contains a dot or colon."""
    name = image_uri.strip().partition("@")[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        name = rest
    repository, _, tag = name.rpartition(":") if ":" in name.rpartition("/")[2] else (name, "", "")
    return repository, tag or None


def repository_of(image_uri: str) -> str:
    """The repository name of an image URI, without registry, tag or digest.

    `683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3`
    -> `sagemaker-scikit-learn`.
    """
    return _name_and_tag(image_uri)[0]


def supported_tags(repository: str) -> list[str]:
    return [version + PROCESSOR_SUFFIX for version in all_specs().get(repository, {})]


def _built_in(image_uri: str) -> Runtime | None:
    found = BUILT_IN_IMAGES.get(repository_of(image_uri))
    if found is None:
        return None
    module, what = found
    home = str(Path(__file__).resolve().parents[2])  # the folder holding the localcloud package
    return Runtime(repository_of(image_uri), sys.executable, f"{what} ({module}, Python {sys.version.split()[0]})",
                   command=(sys.executable, "-m", module), pythonpath=home)


def image_spec(image_uri: str | None) -> ImageSpec:
    """The spec of the image version `image_uri` names, or UnsupportedImageError saying what is supported."""
    if not image_uri:
        raise UnsupportedImageError("ClientError: the job names no container image (ImageUri/TrainingImage)")
    specs = all_specs()
    repository = repository_of(image_uri)
    versions = specs.get(repository)
    if versions is None:
        known = ", ".join(sorted(specs))
        raise UnsupportedImageError(
            f"ClientError: image {image_uri} cannot run locally: no container runtime is available, and only "
            f"SageMaker framework images ({known}) map to a local Python runtime, and Model Monitor's analyzer "
            f"to localcloud's own")
    tag = _name_and_tag(image_uri)[1]
    version = tag.removesuffix(PROCESSOR_SUFFIX) if tag else None
    if version not in versions:
        what = f"tag {tag}" if tag else "no tag"
        raise UnsupportedImageError(
            f"ClientError: image {image_uri} has {what}, which localcloud has no runtime for; supported "
            f"{repository} tags: {', '.join(supported_tags(repository))}")
    return versions[version]


def _override(spec: ImageSpec) -> str | None:
    """The user's interpreter for this image, from OVERRIDE_ENV (a version's entry beats its repository's)."""
    chosen: dict[str, str] = {}
    for entry in os.environ.get(OVERRIDE_ENV, "").split(","):
        image, sep, python = entry.partition("=")
        if sep and image.strip() and python.strip():
            chosen[image.strip()] = python.strip()
    return chosen.get(spec.name) or chosen.get(spec.repository)


def resolve_runtime(image_uri: str | None, progress: Callable[[str], None] | None = None,
                    store: RuntimeStore | None = None) -> Runtime:
    """The local runtime for `image_uri`, built on its first use; UnsupportedImageError says why there is none."""
    built_in = _built_in(image_uri) if image_uri else None
    if built_in is not None:
        return built_in
    spec = image_spec(image_uri)
    python = _override(spec)
    if python is not None:
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise UnsupportedImageError(
                f"ClientError: image {image_uri} is mapped to the interpreter {python!r} by {OVERRIDE_ENV}, "
                f"which is not an executable file")
        return Runtime(spec.name, os.path.abspath(python),
                       f"{spec.name} on your interpreter {python} (from {OVERRIDE_ENV}; the image's pins do not apply)")
    try:
        built = (store or RuntimeStore()).ensure(spec, progress)
    except BuildError as e:
        raise UnsupportedImageError(f"InternalServerError: {e}") from None
    return Runtime(spec.name, built.python, f"{spec.name} runtime {built.folder}: {built.summary()}", built)
