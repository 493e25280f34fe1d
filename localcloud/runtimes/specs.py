"""What each supported framework image contains, read from the files under `images/`.

An image's definition is data, not code, so that adding an image version is adding a folder:

- `image.toml`: the container's Python minor version, where its definition was read, notes on
  what could not be reproduced, and the edits its Dockerfile makes to installed packages;
- `requirements.in`: the packages and versions the container installs, as its Dockerfiles and
  requirements files pin them (`overrides.txt` for uv overrides the image itself applies);
- `runtime.lock`: those plus the model server's own dependencies, resolved for that Python by
  `python -m localcloud.runtimes lock` so that every machine builds the same environment.

The lock's hash is part of the runtime's cache key: editing an image's pins rebuilds it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.markers import Marker

__all__ = ["IMAGES_DIR", "MODELSERVER_REQUIREMENTS", "ImageSpec", "Patch", "all_specs", "exact_pins", "spec_for"]

IMAGES_DIR = Path(__file__).parent / "images"
MODELSERVER_REQUIREMENTS = IMAGES_DIR / "modelserver.in"

_PYTHON_MINOR = re.compile(r"3\.\d{1,2}")
_VERSION_DIR = re.compile(r"[0-9][0-9A-Za-z.-]*")


@dataclass(frozen=True)
class Patch:
    """A text replacement the image's Dockerfile makes in an installed package's file."""

    file: str
    """Path relative to site-packages."""
    old: str
    new: str
    why: str


@dataclass(frozen=True)
class ImageSpec:
    """One image version of a framework repository, e.g. sagemaker-scikit-learn 1.9-0."""

    repository: str
    version: str
    python: str
    """The container's Python minor version, e.g. "3.12"."""
    source: str
    notes: tuple[str, ...]
    patches: tuple[Patch, ...]
    folder: Path

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.version}"

    @property
    def requirements(self) -> Path:
        return self.folder / "requirements.in"

    @property
    def overrides(self) -> Path | None:
        path = self.folder / "overrides.txt"
        return path if path.is_file() else None

    @property
    def lock(self) -> Path:
        return self.folder / "runtime.lock"

    def key(self) -> str:
        """Changes whenever what the runtime would contain changes (Python minor, lock, patches)."""
        digest = hashlib.sha256()
        digest.update(self.python.encode())
        digest.update(self.lock.read_bytes() if self.lock.is_file() else b"")
        for patch in self.patches:
            digest.update(f"\0{patch.file}\0{patch.old}\0{patch.new}".encode())
        return digest.hexdigest()[:12]

    def pins(self) -> dict[str, str]:
        """Exact `name==version` pins of the lock that apply to this Python, by normalised name."""
        return exact_pins(self.lock.read_text(), self.python) if self.lock.is_file() else {}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def exact_pins(text: str, python: str) -> dict[str, str]:
    """`name==version` lines of a requirements file whose markers hold on Linux with Python `python`."""
    where = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
             "platform_system": "Linux", "platform_python_implementation": "CPython",
             "implementation_name": "cpython", "platform_machine": "x86_64", "os_name": "posix"}
    pins: dict[str, str] = {}
    for line in text.splitlines():
        requirement, _, marker = line.split("#", 1)[0].partition(";")
        name, sep, version = requirement.strip().partition("==")
        if sep and name and (not marker.strip() or Marker(marker).evaluate(where)):
            pins[_normalise(name.split("[", 1)[0])] = version.strip()
    return pins


def _load(repository: str, folder: Path) -> ImageSpec:
    data = tomllib.loads((folder / "image.toml").read_text())
    python = str(data.get("python", ""))
    if not _PYTHON_MINOR.fullmatch(python):
        raise ValueError(f"{folder / 'image.toml'}: python must be a minor version such as 3.12, not {python!r}")
    patches = tuple(Patch(str(p["file"]), str(p["old"]), str(p["new"]), str(p.get("why", "")))
                    for p in data.get("patch", []))
    return ImageSpec(repository=repository, version=folder.name, python=python, source=str(data.get("source", "")),
                     notes=tuple(str(n) for n in data.get("notes", [])), patches=patches, folder=folder)


@cache
def all_specs() -> dict[str, dict[str, ImageSpec]]:
    """repository -> version -> spec, for every image folder shipped with localcloud."""
    found: dict[str, dict[str, ImageSpec]] = {}
    for repo_dir in sorted(p for p in IMAGES_DIR.iterdir() if p.is_dir()):
        versions = {}
        for folder in sorted(p for p in repo_dir.iterdir() if (p / "image.toml").is_file()):
            if _VERSION_DIR.fullmatch(folder.name):
                versions[folder.name] = _load(repo_dir.name, folder)
        found[repo_dir.name] = versions
    return found


def spec_for(name: str) -> ImageSpec:
    """The spec named `repository:version` (as `python -m localcloud.runtimes` takes it); KeyError lists them."""
    repository, _, version = name.partition(":")
    specs = all_specs()
    try:
        return specs[repository][version]
    except KeyError:
        known = ", ".join(spec.name for versions in specs.values() for spec in versions.values())
        raise KeyError(f"no runtime named {name!r}; known: {known}") from None
