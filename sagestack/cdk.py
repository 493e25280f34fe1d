"""Running the project's CDK CLI (`node_modules/.bin/cdk`) against the CLI's target.

Why the CLI deploys through the real CDK CLI rather than its own API calls: the stack owns
every resource, and `cdk deploy` is how it is deployed on AWS, so the CLI does exactly that,
locally too (which is how `make demo` and the tests exercise the real path).

The environment the CDK CLI gets follows the target's rules (see target.py): locally,
`AWS_ENDPOINT_URL` names the loopback localcloud and the credentials are placeholders, so no
profile or real key can leak into a local deploy; with `--aws`, the caller's credential chain
is kept and any configured endpoint URL is dropped, so `--aws` reaches AWS itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from sagestack.errors import SagestackError
from sagestack.target import DEFAULT_REGION, LOCAL_KEY, Target

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
TOOLKIT_STACK = "CDKToolkit"
STAGE_CONTEXT = "sagestack:stage"
APPROVAL_FUNCTION_CONTEXT = "sagestack:approval-function"
"""infra/app.py's switch for the function that deploys approved models."""


def _node_major() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        raise SagestackError("Node.js is needed to run the CDK CLI and was not found on PATH") from None
    return out.strip().lstrip("v").split(".")[0]


def environment(target: Target) -> dict[str, str]:
    """The CDK CLI's environment for `target` (see the module's docstring for why it is built so)."""
    major = _node_major()
    quiet = {f"JSII_SILENCE_WARNING_{kind}_NODE_VERSION": major for kind in ("DEPRECATED", "END_OF_LIFE", "UNTESTED")}
    if target.aws:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        if target.profile:
            env["AWS_PROFILE"] = target.profile
        if target.region:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = target.region
        return {**env, "NODE_NO_WARNINGS": "1", **quiet}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    region = target.region or DEFAULT_REGION
    return {**env, "AWS_ENDPOINT_URL": str(target.endpoint_url), "AWS_ACCESS_KEY_ID": LOCAL_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_KEY, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NODE_NO_WARNINGS": "1",
            **quiet}


def run(target: Target, args: list[str], show: Callable[[str], None] | None) -> None:
    """Run `cdk <args>` from the project root; its output goes to `show` line by line as it comes.

    With `show` None the CDK CLI keeps the terminal (it may ask for approval on --aws). Each run
    synthesizes into a cloud assembly of its own, so that two deploys at once (two terminals,
    parallel test workers) never write into one cdk.out.
    """
    _require_cli()
    with tempfile.TemporaryDirectory(prefix="sagestack-cdk-") as assembly:
        code = _cdk([str(CDK), *args, "--output", assembly], environment(target), show)
    if code != 0:
        raise SagestackError(f"`cdk {' '.join(args)}` failed (exit {code}); its output above says why")


def bootstrap(target: Target, environment_uri: str, show: Callable[[str], None] | None) -> None:
    """`cdk bootstrap <environment>` outside the app's folder: with an explicit environment there is nothing
    to synthesize, and in the app's folder the CDK CLI would run the whole app first (seconds, for nothing)."""
    _require_cli()
    args = ["bootstrap", environment_uri, "--no-notices", "--no-version-reporting"]
    with tempfile.TemporaryDirectory(prefix="sagestack-bootstrap-") as folder:
        code = _cdk([str(CDK), *args], {**environment(target), "CDK_DISABLE_CLI_TELEMETRY": "true"}, show,
                    cwd=Path(folder))
    if code != 0:
        raise SagestackError(f"`cdk {' '.join(args)}` failed (exit {code}); its output above says why")


def _require_cli() -> None:
    if not CDK.exists():
        raise SagestackError(f"the CDK CLI is not installed ({CDK.relative_to(ROOT)} is missing): run `make setup` "
                             "(npm ci) in the project")


def _cdk(command: list[str], env: dict[str, str], show: Callable[[str], None] | None, cwd: Path = ROOT) -> int:
    """Run the CDK CLI, in the foreground or streaming its lines to `show`; its exit code."""
    if show is None:
        code = subprocess.run(command, cwd=cwd, env=env).returncode  # in the foreground: Ctrl-C reaches it
    else:
        # Its own process group, so that an interrupt of ours (Ctrl-C, or SIGTERM turned into one) stops the
        # CDK CLI and whatever it started, and never leaves a deploy running behind our back.
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                                start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    show(line.rstrip("\n"))
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
    return code


def _stop(proc: subprocess.Popen[str]) -> None:
    """Interrupt the CDK CLI's process group as Ctrl-C would, and kill it if it does not stop in time."""
    for sig, grace in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)


def stage_args(stage: str, approval_function: bool = True) -> list[str]:
    return ["--context", f"{STAGE_CONTEXT}={stage}",
            *([] if approval_function else ["--context", f"{APPROVAL_FUNCTION_CONTEXT}=false"])]
