"""Build, cache and find the Python environments that stand in for framework images.

One environment per image version and lock (`<cache>/<repository>-<version>-<key>`), built on
first use by uv (an interpreter of the image's Python minor, then `uv pip sync` of the image's
lock, then the image's own patches) and shared by every job and model server of every
localcloud on the machine. Builds are serialised per runtime by a file lock, so two servers
(or two jobs) asking at once build it once. A runtime is complete only once its manifest is
written, last; a folder without one is the remains of an interrupted build and is rebuilt.

Environments are relocatable venvs: a `requirements.txt` layer (`localcloud.runtimes.layers`)
starts as a hard-linked copy of one, and its console scripts must find their own interpreter.
Files are only ever replaced, never written in place, because uv hard-links them from its cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.runtimes.interpreters import find_python, override_variable
from localcloud.runtimes.specs import ImageSpec

__all__ = ["HEADLINE", "MANIFEST", "BuildError", "BuiltRuntime", "RuntimeStore", "default_root", "uv_binary"]

MANIFEST = "localcloud-runtime.json"
HEADLINE = ("scikit-learn", "numpy", "pandas", "scipy", "pyarrow")
_REASON_LIMIT = 700
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TREE = "\u00d7\u251c\u2500\u2570\u25b6\u2502 "  # the box drawing of uv's error trees

Progress = Callable[[str], None]

# Run by the new environment's own interpreter: what it is and what it holds.
_DESCRIBE = """
import importlib.metadata as md, json, sys, sysconfig
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3],
                  "site_packages": sysconfig.get_paths()["purelib"],
                  "packages": {d.metadata["Name"]: d.version for d in md.distributions() if d.metadata["Name"]}}))
"""


class BuildError(Exception):
    """A runtime could not be built; the message says which image, which Python and uv's reason."""


def default_root() -> Path:
    """`LOCALCLOUD_RUNTIMES_DIR`, else the user's cache folder: runtimes outlive any one data dir."""
    chosen = os.environ.get("LOCALCLOUD_RUNTIMES_DIR")
    if chosen:
        return Path(chosen).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(cache) / "localcloud" / "runtimes").resolve()


def uv_binary() -> str:
    """uv, from the `uv` package localcloud depends on, else from PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise BuildError("uv is not installed: install the `uv` package (pip install uv)") from None
        return found


@dataclass(frozen=True)
class BuiltRuntime:
    """A ready environment: where its interpreter is and what it contains."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def python(self) -> str:
        return str(self.folder / "bin" / "python")

    @property
    def python_version(self) -> str:
        return str(self.manifest.get("python", "?"))

    def version_of(self, package: str) -> str | None:
        wanted = _normalise(package)
        for name, version in self.manifest.get("packages", {}).items():
            if _normalise(name) == wanted:
                return str(version)
        return None

    def summary(self) -> str:
        """`Python 3.12.1, scikit-learn 1.9.0, numpy 2.5.1, ...` for job logs and `runtimes list`."""
        parts = [f"Python {self.python_version}"]
        parts += [f"{name} {version}" for name in HEADLINE if (version := self.version_of(name))]
        return ", ".join(parts)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def describe(python: str) -> dict[str, Any]:
    """The manifest of the environment whose interpreter is `python`."""
    done = subprocess.run([python, "-c", _DESCRIBE], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise BuildError(f"{python} cannot describe itself: {done.stderr.strip()[-_REASON_LIMIT:]}")
    return dict(json.loads(done.stdout))


def uv_reason(output: str) -> str:
    """The part of uv's error output that says what failed and why, on one line."""
    lines = [_ANSI.sub("", line).strip() for line in output.splitlines()]
    lines = [line.lstrip(_TREE).strip() for line in lines if line.strip()]
    lines = [line for line in lines if line and not line.startswith(("Using ", "Resolved ", "Prepared ",
                                                                      "Installed ", "Audited ", "Creating "))]
    reason = " ".join(lines) or "uv gave no reason"
    return reason if len(reason) <= _REASON_LIMIT else reason[:_REASON_LIMIT - 3] + "..."


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` shared by threads and processes (flock on a fresh descriptor)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Written last and atomically: its presence is what makes a folder a finished environment."""
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError):
        return None


class RuntimeStore:
    """The runtimes under one cache folder."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).resolve()

    def folder(self, spec: ImageSpec) -> Path:
        return self.root / f"{spec.repository}-{spec.version}-{spec.key()}"

    def ready(self, spec: ImageSpec) -> BuiltRuntime | None:
        """The built runtime of `spec`, or None if it is not (completely) built."""
        folder = self.folder(spec)
        manifest = read_manifest(folder)
        return BuiltRuntime(folder, manifest) if manifest is not None else None

    def ensure(self, spec: ImageSpec, progress: Progress | None = None) -> BuiltRuntime:
        """The runtime of `spec`, built now if this is its first use (BuildError if that fails)."""
        built = self.ready(spec)
        if built is not None:
            return built
        say = progress or (lambda _message: None)
        with file_lock(self.root / ".locks" / f"{self.folder(spec).name}.lock"):
            built = self.ready(spec)  # someone else may have built it while we waited
            if built is not None:
                return built
            return self._build(spec, say)

    def _build(self, spec: ImageSpec, say: Progress) -> BuiltRuntime:
        if not spec.lock.is_file():
            raise BuildError(f"{spec.name} has no lock file ({spec.lock}); run "
                             f"`python -m localcloud.runtimes lock {spec.name}`")
        folder = self.folder(spec)
        shutil.rmtree(folder, ignore_errors=True)  # the remains of an interrupted build
        started = time.monotonic()
        try:
            base = find_python(spec.python)
        except ValueError as e:
            raise BuildError(f"cannot build the local runtime for {spec.name}: {e}") from None
        say(f"building the local runtime for {spec.name} (first use; later jobs reuse it): Python {spec.python} "
            f"from {base or 'uv'}, packages from the image's lock")
        uv = uv_binary()
        env = {**os.environ, "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
        steps = [
            [uv, "venv", "--quiet", "--relocatable", "--python", base or spec.python, str(folder)],
            [uv, "pip", "sync", "--quiet", "--compile-bytecode", "--python", str(folder / "bin" / "python"),
             str(spec.lock)],
        ]
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                reason = uv_reason(done.stderr or done.stdout)
                if argv[1] == "venv":
                    reason = (f"no Python {spec.python} interpreter: {reason} (install one, e.g. "
                              f"`uv python install {spec.python}` or with pyenv, or name it in "
                              f"{override_variable(spec.python)})")
                raise BuildError(f"cannot build the local runtime for {spec.name} (Python {spec.python}): {reason}")
        manifest = describe(str(folder / "bin" / "python"))
        for patch in spec.patches:
            _apply(Path(manifest["site_packages"]), patch.file, patch.old, patch.new, folder, spec)
        if spec.patches:
            subprocess.run([str(folder / "bin" / "python"), "-m", "compileall", "-q",
                            *(str(Path(manifest["site_packages"]) / p.file) for p in spec.patches)],
                           capture_output=True, check=False)
        manifest.update(image=spec.name, key=spec.key(), source=spec.source, base_interpreter=base or "uv",
                        build_seconds=round(time.monotonic() - started, 1))
        write_manifest(folder, manifest)
        say(f"built {spec.name} in {manifest['build_seconds']} s: {BuiltRuntime(folder, manifest).summary()}")
        return BuiltRuntime(folder, manifest)


def _apply(site_packages: Path, file: str, old: str, new: str, folder: Path, spec: ImageSpec) -> None:
    """The image's edit of an installed file, made by replacing the file (it may be a hard link)."""
    path = site_packages / file
    try:
        text = path.read_text()
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise BuildError(f"cannot build the local runtime for {spec.name}: the image patches {file}, "
                         f"which is not installed ({e.strerror})") from None
    if old not in text:
        shutil.rmtree(folder, ignore_errors=True)
        raise BuildError(f"cannot build the local runtime for {spec.name}: the image's patch of {file} "
                         f"no longer applies ({old!r} not found)")
    tmp = path.with_name(path.name + ".localcloud-tmp")
    tmp.write_text(text.replace(old, new))
    os.replace(tmp, path)
