"""Give a job its own `/opt/ml` without touching the host.

SageMaker scripts hard-code container paths (`/opt/ml/processing/input`,
`/opt/ml/model`...), and the SDK itself writes such paths into job definitions, so a
local run only behaves like AWS if those paths exist for the job. On Linux an
unprivileged process can have them privately: a new mount namespace (inside a new user
namespace when not root) with a tmpfs over `/opt` and the job's own folder bound to
`/opt/ml`. Nothing changes on the host and concurrent jobs each see their own tree.

Where that is impossible (no namespaces, `/opt` missing, or the runtime interpreter
itself living under `/opt`, which the tmpfs would hide) the job runs against a real
folder instead: we rewrite `/opt/ml` in its command line and environment and it must
find everything else through the `SM_*` variables. The job log says which case applies.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OPT_ML", "SANDBOX_ENV", "NamespaceSupport", "Sandbox", "SandboxError", "make_sandbox",
           "namespace_support", "write_python_shims"]

OPT_ML = "/opt/ml"
SANDBOX_ENV = "LOCALCLOUD_JOB_SANDBOX"
"""`auto` (default), `namespace` (require it) or `fallback` (never use it)."""

MODES = ("auto", "namespace", "fallback")

# Runs inside the new mount namespace: $1 mount binary, $2 host folder for /opt/ml,
# $3 working directory; the rest is the job's command. Arguments travel as positional
# parameters, never spliced into the script, so no quoting can go wrong.
_SETUP = (
    'set -e; m="$1"; src="$2"; dir="$3"; shift 3; '
    '"$m" -n -t tmpfs -o mode=0755 localcloud-opt /opt; '
    "mkdir /opt/ml; "
    '"$m" -n --bind "$src" /opt/ml; '
    'cd "$dir"; exec "$@"'
)

# What a POSIX shell passes on; dash silently drops other names (SM_HP_LEARNING-RATE).
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# `/opt/ml` as a whole path segment, not inside a longer path such as /x/opt/ml or /opt/mlx.
_OPT_ML_RE = re.compile(r"(?<![\w./-])/opt/ml(?![\w.-])")


class SandboxError(Exception):
    """The requested isolation is impossible; the message is fit for a FailureReason."""


@dataclass(frozen=True)
class NamespaceSupport:
    """Whether private mount namespaces work here, and the `unshare` prefix that worked."""

    available: bool
    reason: str
    prefix: tuple[str, ...] = ()
    mount: str = ""
    env: str = ""


_probe_lock = threading.Lock()
_probe: NamespaceSupport | None = None


def namespace_support() -> NamespaceSupport:
    """Probe once per process (about 20 ms) by doing exactly what a job will do."""
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = _run_probe()
        return _probe


def _run_probe() -> NamespaceSupport:
    if not sys.platform.startswith("linux"):
        return NamespaceSupport(False, f"mount namespaces are Linux-only (this is {sys.platform})")
    unshare, mount, sh = shutil.which("unshare"), shutil.which("mount"), shutil.which("sh")
    if not (unshare and mount and sh):
        return NamespaceSupport(False, "the unshare, mount or sh command is missing")
    if not os.path.isdir("/opt"):
        return NamespaceSupport(False, "/opt does not exist, so there is nothing to mount over")
    variants = [("-m",), ("-r", "-m")] if os.geteuid() == 0 else [("-r", "-m")]
    errors = []
    with tempfile.TemporaryDirectory(prefix="localcloud-probe-") as tmp:
        Path(tmp, "probe").write_text("ok")
        for flags in variants:
            prefix = (unshare, *flags, "--propagation", "private", sh, "-c", _SETUP, "localcloud-sandbox")
            try:
                done = subprocess.run([*prefix, mount, tmp, "/", "test", "-f", "/opt/ml/probe"],
                                      capture_output=True, text=True, timeout=10, check=False)
            except (OSError, subprocess.SubprocessError) as e:
                errors.append(f"unshare {' '.join(flags)}: {e}")
                continue
            if done.returncode == 0:
                env = shutil.which("env") or ""
                return NamespaceSupport(True, f"unshare {' '.join(flags)}", prefix, mount, env)
            errors.append(f"unshare {' '.join(flags)}: {(done.stderr or '').strip() or done.returncode}")
    return NamespaceSupport(False, f"private mount namespaces are not permitted here ({'; '.join(errors)})")


def _under_opt(path: str) -> bool:
    return any(p == "/opt" or p.startswith("/opt/") for p in {os.path.abspath(path), os.path.realpath(path)})


@dataclass(frozen=True)
class Sandbox:
    """How one job sees `/opt/ml`: privately mounted, or rewritten to a real folder."""

    host_root: Path
    """The real folder holding the job's /opt/ml tree; our own file operations use it."""
    namespace: bool
    note: str
    """One line for the top of the job log saying which case applies and why."""
    _prefix: tuple[str, ...] = ()
    _mount: str = ""
    _env: str = ""

    @property
    def mode(self) -> str:
        return "namespace" if self.namespace else "fallback"

    def host(self, container_path: str) -> Path:
        """The host path of a container path under /opt/ml (ValueError otherwise)."""
        norm = os.path.normpath(container_path)
        if norm == OPT_ML:
            return self.host_root
        if not norm.startswith(OPT_ML + "/"):
            raise ValueError(f"{container_path!r} is not under {OPT_ML}")
        return self.host_root / norm[len(OPT_ML) + 1:]

    def view(self, container_path: str) -> str:
        """A container path as the job's process must be told it."""
        return container_path if self.namespace else str(self.host(container_path))

    def rewrite(self, text: str) -> str:
        """Point `/opt/ml` mentions in a command-line or env value at the real folder (fallback only)."""
        if self.namespace or "/opt/ml" not in text:
            return text
        root = str(self.host_root)
        return _OPT_ML_RE.sub(lambda _m: root, text)

    def command(self, argv: list[str], cwd: str, env: dict[str, str]) -> tuple[list[str], str]:
        """The argv and Popen cwd that run `argv` in `cwd` (a path as the job sees it) with `env`."""
        if not self.namespace:
            return list(argv), cwd
        # The setup shell would drop variables whose names are not shell identifiers (the
        # toolkit's SM_HP_<NAME> keeps dashes); env(1) after it puts them back.
        odd = [f"{k}={v}" for k, v in env.items() if not _SHELL_NAME.match(k)]
        restore = [self._env, "--", *odd] if odd and self._env else []
        return [*self._prefix, self._mount, str(self.host_root), cwd, *restore, *argv], str(self.host_root)


def make_sandbox(host_root: Path, runtime_python: str, mode: str | None = None) -> Sandbox:
    """Decide how this job gets /opt/ml; `mode` (or LOCALCLOUD_JOB_SANDBOX) forces a choice."""
    mode = (mode or os.environ.get(SANDBOX_ENV) or "auto").strip().lower()
    if mode not in MODES:
        raise SandboxError(f"ClientError: {SANDBOX_ENV}={mode!r} is not one of {', '.join(MODES)}")
    root = Path(host_root).resolve()
    why_not: str | None = None
    support: NamespaceSupport | None = None
    if mode == "fallback":
        why_not = f"namespaces disabled ({SANDBOX_ENV}=fallback or the sandbox parameter)"
    elif _under_opt(runtime_python):
        why_not = f"the runtime interpreter {runtime_python} is under /opt, which the job's tmpfs would hide"
    elif _under_opt(str(root)):
        why_not = f"the job folder {root} lives under /opt, which the job's tmpfs would hide"
    else:
        support = namespace_support()
        if not support.available:
            why_not = support.reason
    if why_not is None and support is not None:
        note = f"/opt/ml is private to this job ({support.reason}, tmpfs over /opt, {root} bound to /opt/ml)"
        return Sandbox(root, True, note, support.prefix, support.mount, support.env)
    if mode == "namespace":
        raise SandboxError(f"ClientError: {SANDBOX_ENV}=namespace, but a private /opt/ml is impossible: "
                           f"{why_not}")
    note = (f"WARNING: /opt/ml is NOT available to this job: {why_not}. It runs against {root} instead; "
            f"/opt/ml in its command line and environment was rewritten to that folder, and scripts must "
            f"find their paths through the SM_* variables")
    return Sandbox(root, False, note)


def write_python_shims(bin_dir: Path, python: str) -> None:
    """Make `python`, `python3`, `pip`, `pip3` on PATH mean the runtime interpreter.

    Shell shims rather than symlinks: a symlinked virtualenv interpreter no longer finds
    its `pyvenv.cfg` and silently loses the venv's packages.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    quoted = shlex.quote(python)
    scripts = {"python": f'exec {quoted} "$@"', "python3": f'exec {quoted} "$@"',
               "pip": f'exec {quoted} -m pip "$@"', "pip3": f'exec {quoted} -m pip "$@"'}
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
