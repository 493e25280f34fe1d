"""One invocation of a Python Lambda function: a process of its own, its logs, its timeout.

How a function runs here, and why:

- its code (the deployment package's zip) is unpacked once per code version under the data dir,
  member names checked so that none lands outside it;
- on a Python of the runtime's version (`python3.12` -> a Python 3.12 found as for framework
  images), isolated (`-I`: no user site, no PYTHON* variables), with the AWS SDK for Python on its
  path after the function's own code, as Lambda's runtime has it (the boto3 localcloud itself
  uses, linked, not copied);
- in the environment every localcloud child gets (child_env: an allowlist, placeholder role
  credentials, AWS calls pointed back at localcloud) plus the function's variables and Lambda's
  own (AWS_LAMBDA_FUNCTION_NAME, _HANDLER, ...);
- for at most its Timeout in real seconds (a function's work is real work, not AWS time), then
  killed with Lambda's "Task timed out" error;
- its output, framed by Lambda's START, END and REPORT lines, to CloudWatch Logs
  (`/aws/lambda/<name>`, one stream per invocation); the invocation's folder goes afterwards.

Memory is not limited (MemorySize is reported, not enforced): Python's address space has no
useful relation to it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from localcloud import processes, settings
from localcloud.child_env import child_environment
from localcloud.runtimes.interpreters import find_python
from localcloud.sagemaker.job_logs import JobLog

__all__ = ["Outcome", "invoke"]

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
SDK_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
"""The AWS SDK for Python and what it imports: what Lambda's Python runtimes include."""
_unpack_lock = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    payload: bytes
    """The handler's JSON answer, or Lambda's error document."""
    error: str | None
    """"Unhandled" when the function failed (Invoke's X-Amz-Function-Error), else None."""
    log_tail: str
    """The invocation's last 4 KB of log (Invoke's LogResult with LogType Tail)."""


class FunctionUnavailable(Exception):
    """The function cannot run here (not a Python runtime, no such interpreter); the message says why."""


def _interpreter(runtime: str | None) -> str:
    if not runtime or not runtime.startswith("python3."):
        raise FunctionUnavailable(f"localcloud runs Python functions (python3.X runtimes), not {runtime!r}")
    minor = runtime.removeprefix("python")
    found = find_python(minor)
    if found is None:
        raise FunctionUnavailable(f"no Python {minor} on this machine for runtime {runtime} (install it, e.g. with "
                                  f"pyenv, or name one in LOCALCLOUD_PYTHON_{minor.replace('.', '_')})")
    return found


def _sdk_dir() -> Path:
    """A folder holding (links to) the SDK's packages, put on the function's path."""
    folder = settings.data_dir() / "functions" / "sdk"
    with _unpack_lock:
        if not (folder / ".complete").exists():
            folder.mkdir(parents=True, exist_ok=True)
            for name in SDK_MODULES:
                spec = find_spec(name)
                if spec is None or spec.origin is None:
                    raise FunctionUnavailable(f"the AWS SDK module {name} is not installed with localcloud")
                origin = Path(spec.origin)
                source = origin.parent if origin.name == "__init__.py" else origin
                link = folder / source.name
                if not link.exists():
                    link.symlink_to(source, target_is_directory=source.is_dir())
            (folder / ".complete").touch()
    return folder


def _code_dir(function: Any) -> Path:
    """The function's code, unpacked once per version of it (by its sha256)."""
    folder = _function_dir(function) / f"code-{_digest_name(function)}"
    with _unpack_lock:
        if not (folder / ".complete").exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            archive = folder.parent / "package.zip"
            archive.write_bytes(function.code_bytes or b"")
            try:
                with zipfile.ZipFile(archive) as package:
                    for member in package.infolist():
                        target = (folder / member.filename).resolve()
                        if not target.is_relative_to(folder.resolve()):
                            raise FunctionUnavailable(f"the deployment package's member {member.filename!r} would "
                                                      "land outside the function's folder")
                    package.extractall(folder)
            except zipfile.BadZipFile:
                raise FunctionUnavailable("the function's deployment package is not a zip archive") from None
            finally:
                archive.unlink(missing_ok=True)
            (folder / ".complete").touch()
    return folder


def _function_dir(function: Any) -> Path:
    """The function's folder: Lambda names may hold underscores, folder names here may not (settings.py)."""
    name = function.function_name
    readable = name.replace("_", "-").strip("-")[:40] or "function"
    return settings.resource_dir("functions", f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}")


def _digest_name(function: Any) -> str:
    digest = str(getattr(function, "code_sha_256", "") or "none")
    return "".join(c for c in digest if c.isalnum())[:24] or "none"


def failure(request_id: str, kind: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": kind, "requestId": request_id}).encode()


def invoke(function: Any, event: bytes, request_id: str | None = None,
           stop: threading.Event | None = None) -> Outcome:
    """Run the function's handler on `event` (JSON bytes) once, blocking until it ends, times out or `stop` is set."""
    request_id = request_id or str(uuid.uuid4())
    stop = stop or threading.Event()
    started = datetime.now(UTC)
    stream = f"{started:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    work = _function_dir(function) / "invocations" / request_id
    work.mkdir(parents=True, exist_ok=True)
    log = JobLog(work / "output.log", function.logs_group_name, stream, function.region)
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(text)
        log.line(text)

    say(f"START RequestId: {request_id} Version: $LATEST")
    clock = time.monotonic()
    try:
        outcome_payload, failed = _run(function, event, request_id, work, stream, say, stop)
    except FunctionUnavailable as e:
        say(f"[ERROR] Runtime.Unavailable: {e}")
        outcome_payload, failed = failure(request_id, "Runtime.Unavailable", str(e)), True
    took_ms = (time.monotonic() - clock) * 1000
    say(f"END RequestId: {request_id}")
    say(f"REPORT RequestId: {request_id}\tDuration: {took_ms:.2f} ms\tBilled Duration: {int(took_ms) + 1} ms\t"
        f"Memory Size: {function.memory_size} MB")
    log.close()
    shutil.rmtree(work, ignore_errors=True)  # what it printed is in CloudWatch Logs
    return Outcome(outcome_payload, "Unhandled" if failed else None, "\n".join(lines)[-4096:])


def _run(function: Any, event: bytes, request_id: str, work: Path, stream: str, say: Any,
         stop: threading.Event) -> tuple[bytes, bool]:
    python = _interpreter(function.run_time)
    code, sdk = _code_dir(function), _sdk_dir()
    (work / "event.json").write_bytes(event)
    result = work / "result.json"
    timeout = float(function.timeout or 3)
    env = child_environment(function.region, work / "task", {
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        "_HANDLER": str(function.handler), "LAMBDA_TASK_ROOT": str(code), "AWS_EXECUTION_ENV":
        f"AWS_Lambda_{function.run_time}", "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name, "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "LOCALCLOUD_FUNCTION_ARN": function.function_arn, "LOCALCLOUD_REQUEST_ID": request_id,
        "PYTHONUNBUFFERED": "1"})
    deadline_ms = time.time() * 1000 + timeout * 1000
    proc = processes.spawn([python, "-I", str(BOOTSTRAP), str(work / "event.json"), str(result),
                            f"{deadline_ms:.0f}", str(sdk)], cwd=code, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = threading.Thread(target=_read_lines, args=(proc, say), daemon=True)
    reader.start()
    ends = time.monotonic() + timeout
    while proc.poll() is None and not stop.is_set() and time.monotonic() < ends:
        stop.wait(min(0.05, max(0.0, ends - time.monotonic())))
    if proc.poll() is None:
        processes.terminate(proc, grace=0)
        reader.join(5)
        if stop.is_set():
            say(f"RequestId: {request_id} Error: stopped (localcloud was reset or shut down)")
            return failure(request_id, "Runtime.Stopped", "localcloud stopped the invocation"), True
        message = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + f"Z {request_id} Task timed out after " \
                                                                    f"{timeout:.2f} seconds"
        say(message)
        return failure(request_id, "Sandbox.Timedout", message), True
    processes.forget(proc)
    reader.join(5)
    if not result.exists():
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {proc.returncode}"
        say(message)
        return failure(request_id, "Runtime.ExitError", message), True
    answer = json.loads(result.read_text(encoding="utf-8"))
    return str(answer["payload"]).encode(), bool(answer["failed"])


def _read_lines(proc: subprocess.Popen, say: Any) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        say(raw.decode("utf-8", "replace").rstrip("\n"))
