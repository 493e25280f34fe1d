"""Find a base interpreter of a given Python minor version to build a runtime on.

A container's Python minor version matters (syntax, the stdlib, which wheels exist), its patch
release hardly does, so any working `python3.X` will do. Looked for, in order:

1. `LOCALCLOUD_PYTHON_3_X` (e.g. LOCALCLOUD_PYTHON_3_10=/usr/local/bin/python3.10), the explicit choice;
2. pyenv's installed versions (`$PYENV_ROOT/versions/3.X.*`), newest patch first: pyenv's shims only
   answer for the active version, so they are not asked;
3. `python3.X` on PATH, run once to check it really is 3.X (a pyenv shim for an inactive version
   exits with an error);
4. none of those: uv is asked for `3.X` and finds, or where it is allowed to, downloads a build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["find_python", "override_variable"]


def override_variable(minor: str) -> str:
    return "LOCALCLOUD_PYTHON_" + minor.replace(".", "_")


def _reports(python: str, minor: str) -> bool:
    """Whether `python` runs and is version `minor`."""
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == minor


def _pyenv_candidates(minor: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    pattern = re.compile(re.escape(minor) + r"\.(\d+)")
    found = []
    if root.is_dir():
        for version in root.iterdir():
            match = pattern.fullmatch(version.name)
            if match:
                found.append((int(match.group(1)), version / "bin" / f"python{minor}"))
    return [path for _, path in sorted(found, reverse=True)]


def find_python(minor: str) -> str | None:
    """Path of a working Python `minor` interpreter, or None to let uv look (step 4 above).

    Raises ValueError if the override variable names something that is not that Python.
    """
    variable = override_variable(minor)
    chosen = os.environ.get(variable)
    if chosen:
        if not _reports(chosen, minor):
            raise ValueError(f"{variable}={chosen} is not a working Python {minor} interpreter")
        return chosen
    candidates = [str(p) for p in _pyenv_candidates(minor)]
    on_path = shutil.which(f"python{minor}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if _reports(candidate, minor):
            return candidate
    return None
