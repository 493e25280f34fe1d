"""Script mode's `requirements.txt`: installed on top of an image's runtime, as the container does.

In a framework container the training toolkit runs `python -m pip install -r requirements.txt`
in the code folder before the entry point, into the image's own site-packages: what the image
already satisfies stays, what is missing or asked newer is installed. A layer reproduces that
without touching the shared runtime: it starts as a hard-linked copy of the runtime (cheap;
files are replaced, never edited in place, by pip as by uv) and pip installs into the copy.
Layers are cached by runtime and by the file's hash, so a job's second run starts at once;
a failed install leaves nothing behind, and its pip output is the job's to show.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from localcloud.runtimes.store import MANIFEST, BuiltRuntime, describe, file_lock, read_manifest, write_manifest

__all__ = ["PASSED_TO_PIP", "PIP_COMMAND", "RequirementsError", "with_requirements"]

PIP_COMMAND = "-m pip install -r requirements.txt"
"""What the training toolkit runs (after the interpreter) in the code folder."""

PASSED_TO_PIP = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
                 "PIP_CERT", "PIP_CONFIG_FILE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "no_proxy")
"""Package-index settings of the user's that pip needs to reach their registry, as a container's pip.conf does."""


@dataclass
class RequirementsError(Exception):
    """pip failed; `errors` are its ERROR lines (or its last lines), as the toolkit reports them."""

    exit_code: int
    errors: str
    command: str


def _copy(runtime: Path, layer: Path) -> None:
    """A hard-linked copy of the runtime, without its manifest (the layer gets its own when done)."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another file system, or links not allowed: a real copy
            shutil.copy2(src, dst)

    shutil.copytree(runtime, layer, symlinks=True, copy_function=link,
                    ignore=lambda folder, names: [MANIFEST] if Path(folder) == runtime else [])


def with_requirements(runtime: BuiltRuntime, requirements: Path, env: Mapping[str, str],
                      on_line: Callable[[str], None]) -> BuiltRuntime:
    """The runtime plus `requirements` (a cached layer); RequirementsError with pip's message if pip fails.

    pip runs in the requirements' folder, as the toolkit runs it, so relative paths in the file work.
    """
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    layer = runtime.folder.parent / "layers" / f"{runtime.folder.name}-{digest}"
    manifest = read_manifest(layer)
    if manifest is not None:
        on_line(f"requirements.txt (sha256 {digest}...) is installed already: reusing {layer}")
        return BuiltRuntime(layer, manifest)
    with file_lock(layer.parent / ".locks" / f"{layer.name}.lock"):
        manifest = read_manifest(layer)
        if manifest is not None:
            return BuiltRuntime(layer, manifest)
        shutil.rmtree(layer, ignore_errors=True)
        _copy(runtime.folder, layer)
        python = str(layer / "bin" / "python")
        command = f"{python} {PIP_COMMAND}"
        child_env = dict(env)
        for key in PASSED_TO_PIP:  # the user's settings, unless the caller chose otherwise
            if key in os.environ:
                child_env.setdefault(key, os.environ[key])
        child_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        on_line(f"Installing dependencies from requirements.txt: {command}")
        lines: list[str] = []
        proc = subprocess.Popen([python, *PIP_COMMAND.split()], cwd=requirements.parent, env=child_env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            on_line(line)
        code = proc.wait()
        if code != 0:
            shutil.rmtree(layer, ignore_errors=True)
            errors = [line for line in lines if line.startswith("ERROR:")] or lines[-10:]
            raise RequirementsError(code, "\n".join(dict.fromkeys(errors)).strip(), command)
        manifest = {**runtime.manifest, **describe(python), "requirements_sha256": digest}
        write_manifest(layer, manifest)
        return BuiltRuntime(layer, manifest)
