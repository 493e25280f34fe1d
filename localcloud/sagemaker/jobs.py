"""Run SageMaker Processing and Training jobs for real, as local processes.

moto records a job and calls it Completed; this module does what SageMaker's platform
does around a container: download inputs from S3 into the `/opt/ml` tree, write the
config files, set the environment, run the entrypoint (or, for framework training
images, the script-mode entry point the way the SageMaker training toolkit does), stream
its output to CloudWatch Logs, enforce MaxRuntime and StopXxxJob, then upload outputs
and report an outcome the backend copies into the Describe response.

The engine calls `run_processing_job` / `run_training_job` from a worker thread; they
block until the job ends and never raise for a job's own problems: every failure
becomes a `JobOutcome` with an AWS-style FailureReason.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from localcloud import aws
from localcloud.child_env import child_environment
from localcloud.runtimes.layers import RequirementsError, with_requirements
from localcloud.sagemaker import job_s3
from localcloud.sagemaker.images import OVERRIDE_ENV, Runtime, UnsupportedImageError, resolve_runtime
from localcloud.sagemaker.job_logs import JobLog
from localcloud.sagemaker.job_process import ProcessResult, run_supervised
from localcloud.sagemaker.sandbox import Sandbox, SandboxError, make_sandbox, write_python_shims

__all__ = ["GRACE_ENV", "JobOutcome", "hyperparameter_args", "run_processing_job", "run_training_job"]

GRACE_ENV = "LOCALCLOUD_STOP_GRACE_SECONDS"
"""Seconds between SIGTERM and SIGKILL when a job is stopped (AWS allows 120; default 5)."""
DEFAULT_GRACE = 5.0

PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
HOST = "algo-1"
MAX_REASON = 1024  # FailureReason and ExitMessage are at most 1 KB on AWS
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_PYTHON_NAME = re.compile(r"^python(3(\.\d+)?)?$")
# Where framework images keep their interpreter; such absolute paths mean "the runtime".
_CONTAINER_BIN_DIRS = {"/usr/bin", "/usr/local/bin", "/opt/conda/bin", "/miniconda3/bin"}


@dataclass
class JobOutcome:
    """How a job ended, in the terms of DescribeProcessingJob / DescribeTrainingJob."""

    status: str
    """Completed | Failed | Stopped."""
    failure_reason: str | None = None
    exit_message: str | None = None
    """Processing: the first 1 KB of /opt/ml/output/message."""
    model_artifacts: str | None = None
    """Training: s3://<S3OutputPath>/<job>/output/model.tar.gz."""
    final_metrics: list[dict[str, Any]] = field(default_factory=list)
    """Training: [{"MetricName", "Value", "Timestamp"}], last match of each MetricDefinitions regex."""
    secondary_status: str | None = None
    """Training: Completed | Failed | Stopped | MaxRuntimeExceeded."""
    log_group: str = ""
    log_stream: str = ""
    local_log: Path | None = None
    exit_code: int | None = None
    sandbox: str | None = None
    """namespace (private /opt/ml) or fallback (real folder + SM_* variables)."""


class _JobError(Exception):
    """Ends the job as Failed; the message is the FailureReason."""


class _Stopped(Exception):
    """The job was stopped before its process started."""


def _now() -> datetime:
    return datetime.now(UTC)


def _fit(head: str, body: str, tail: str = "") -> str:
    """head + body + tail within MAX_REASON characters, cutting the start of `body` (errors end last)."""
    room = MAX_REASON - len(head) - len(tail)
    if len(body) > room:
        body = "..." + body[len(body) - max(room - 3, 0):] if room > 3 else ""
    return (head + body + tail)[:MAX_REASON]


def _error_text(stderr_tail: list[str]) -> str:
    """The part of stderr that explains a failure: the last traceback, else the last lines."""
    lines = list(stderr_tail)
    while lines and not lines[-1].strip():
        lines.pop()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    lines = lines[starts[-1]:] if starts else lines[-10:]
    return "\n".join(lines).strip()


def _read_text(path: Path, limit: int = MAX_REASON) -> str | None:
    try:
        with path.open("rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def _grace(stop_grace: float | None) -> float:
    if stop_grace is not None:
        return stop_grace
    try:
        return float(os.environ.get(GRACE_ENV, DEFAULT_GRACE))
    except ValueError:
        return DEFAULT_GRACE


def _max_runtime(request: dict[str, Any]) -> float | None:
    value = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError) as e:
        raise _JobError(f"ClientError: MaxRuntimeInSeconds {value!r} is not a number") from e
    if seconds <= 0:
        raise _JobError(f"ClientError: StoppingCondition.MaxRuntimeInSeconds must be positive, not {value!r}")
    return seconds


def _resource_config(instance_type: str | None) -> dict[str, Any]:
    instance_type = instance_type or "local"
    return {
        "current_host": HOST,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": [HOST],
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": [HOST]}],
        "network_interface_name": "eth0",
    }


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, default=str))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _clear_aside(path: Path) -> None:
    """Remove a previous run's tree without making this run wait for it (deletes can be slow)."""
    if not path.exists():
        return
    trash = path.with_name(f"{path.name}.old-{time.time_ns()}")
    path.rename(trash)
    threading.Thread(target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, daemon=True).start()


class _Job:
    """What both job kinds share: folders, log, runtime, sandbox, environment, process."""

    def __init__(self, kind: str, name: str, request: dict[str, Any], region: str, workdir: Path,
                 stop: threading.Event, sandbox: str | None, stop_grace: float | None):
        self.kind, self.name, self.request, self.region, self.stop = kind, name, request, region, stop
        self.sandbox_mode = sandbox
        self.grace = _grace(stop_grace)
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root = self.workdir / "opt-ml"
        _clear_aside(self.root)
        self.root.mkdir()
        self.scratch = self.workdir / "work"
        self.scratch.mkdir(exist_ok=True)
        group = PROCESSING_LOG_GROUP if kind == "Processing" else TRAINING_LOG_GROUP
        started = _now()
        stream = f"{name}/{HOST}-{int(started.timestamp())}"
        self.log = JobLog(self.workdir / "job.log", group, stream, region)
        self.outcome = JobOutcome(status="Failed", log_group=group, log_stream=stream,
                                  local_log=self.log.path)
        self.runtime: Runtime | None = None
        self.sb: Sandbox | None = None
        self.line_hooks: list[Callable[[str, float], None]] = []

    # -------------------------------------------------------------- preparation
    def check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def prepare(self, image: str | None) -> None:
        """Pick the runtime and the sandbox, and say both at the top of the log."""
        try:
            self.runtime = resolve_runtime(image, progress=self.log.note)
        except UnsupportedImageError as e:
            raise _JobError(str(e)) from e
        try:
            self.sb = make_sandbox(self.root, self.runtime.python, self.sandbox_mode)
        except SandboxError as e:
            raise _JobError(str(e)) from e
        self.outcome.sandbox = self.sb.mode
        write_python_shims(self.workdir / "bin", self.runtime.python)
        self.log.note(f"{self.kind} job {self.name}: image {image} runs on the local {self.runtime.description}")
        self.log.note(self.sb.note)

    def install_requirements(self, requirements: Path) -> None:
        """Script mode: the toolkit installs the code's requirements.txt before the entry point runs."""
        assert self.runtime is not None
        if self.runtime.built is None:
            self.log.note(f"requirements.txt not installed: {self.runtime.image} runs on your own interpreter "
                          f"({OVERRIDE_ENV}), which localcloud does not modify")
            return
        self.check_stop()
        try:
            layer = with_requirements(self.runtime.built, requirements, self.base_env(), self.log.line)
        except RequirementsError as e:
            raise _JobError(_fit(f'AlgorithmError: InstallRequirementsError:\nExitCode {e.exit_code}\n'
                                 f'ErrorMessage "', e.errors, f'"\nCommand "{e.command[:300]}"')) from None
        self.runtime = replace(self.runtime, python=layer.python, built=layer,
                               description=f"{self.runtime.description}, with requirements.txt ({layer.folder})")
        write_python_shims(self.workdir / "bin", self.runtime.python)
        self.log.note(f"requirements.txt installed: the job runs on {layer.folder}")

    def host(self, container_path: str, what: str) -> Path:
        """Host path of a container path that must lie under /opt/ml."""
        assert self.sb is not None
        try:
            return self.sb.host(container_path)
        except ValueError as e:
            raise _JobError(f"ClientError: {what} {container_path!r} must be under /opt/ml") from e

    def view(self, container_path: str) -> str:
        assert self.sb is not None
        return self.sb.view(container_path)

    def base_env(self) -> dict[str, str]:
        """A container-like environment (`localcloud.child_env`): nothing of this server's own."""
        assert self.sb is not None
        env = child_environment(self.region, self.scratch)
        assert self.runtime is not None
        # the image's console scripts (gunicorn, ...) are on PATH, as in the container
        image_bin = [str(self.runtime.built.folder / "bin")] if self.runtime.built else []
        env["PATH"] = os.pathsep.join([str(self.workdir / "bin"), *image_bin, env["PATH"]])
        env["PYTHONUNBUFFERED"] = "1"  # the framework images set these too: logs arrive line by line
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["LOCALCLOUD_SANDBOX"] = self.sb.mode
        env["LOCALCLOUD_OPT_ML"] = self.sb.view("/opt/ml")
        if not self.sb.namespace:
            env["SAGEMAKER_BASE_DIR"] = str(self.root)  # the training toolkit's own override of /opt/ml
        return env

    def user_env(self) -> dict[str, str]:
        assert self.sb is not None
        given = self.request.get("Environment") or {}
        if not isinstance(given, dict):
            raise _JobError("ClientError: Environment must be a map of strings")
        return {str(k): self.sb.rewrite(str(v)) for k, v in given.items()}

    def resolve_argv(self, argv: list[str]) -> list[str]:
        """`python3` & co. mean the runtime interpreter; /opt/ml is rewritten in fallback mode."""
        assert self.sb is not None and self.runtime is not None
        out = [self.sb.rewrite(str(a)) for a in argv]
        first = out[0]
        if _PYTHON_NAME.match(first) or (os.path.dirname(first) in _CONTAINER_BIN_DIRS
                                         and _PYTHON_NAME.match(os.path.basename(first))):
            out[0] = self.runtime.python
        return out

    def download(self, uri: str, container_path: str) -> None:
        target = self.host(container_path, "LocalPath")
        try:
            count = job_s3.download(uri, target, self.region)
        except job_s3.JobDataError as e:
            raise _JobError(str(e)) from e
        self.log.note(f"downloaded {count} object(s) from {uri} to {container_path}")

    # -------------------------------------------------------------- running
    def run(self, argv: list[str], cwd: str, env: dict[str, str], max_runtime: float | None) -> ProcessResult:
        assert self.sb is not None
        self.check_stop()
        command, popen_cwd = self.sb.command(argv, cwd, env)
        self.log.note("running: " + " ".join(argv))
        self.log.flush()

        def on_line(line: str, ts: float, _is_err: bool) -> None:
            self.log.line(line, ts)
            for hook in self.line_hooks:
                hook(line, ts)

        result = run_supervised(command, env=env, cwd=popen_cwd, on_line=on_line, stop=self.stop,
                                max_runtime=max_runtime, grace=self.grace, on_tick=self.log.tick)
        self.outcome.exit_code = result.exit_code
        how = {"stop": "stopped on request", "timeout": "stopped: MaxRuntimeInSeconds exceeded"}
        self.log.note(f"process exited with code {result.exit_code}"
                      + (f" ({how[result.ended_by]})" if result.ended_by else ""))
        return result

    def end(self, status: str, reason: str | None = None) -> JobOutcome:
        self.outcome.status = status
        if self.kind == "Training" and self.outcome.secondary_status is None:
            self.outcome.secondary_status = status
        self.outcome.failure_reason = reason
        if reason:
            self.log.note(f"{status}: {reason}")
        else:
            self.log.note(status)
        return self.outcome

    def close(self) -> JobOutcome:
        self.log.close()
        return self.outcome


def _guarded(job: _Job, body: Callable[[], JobOutcome]) -> JobOutcome:
    """Run a job body, turning every way it can end into an outcome."""
    try:
        return body()
    except _JobError as e:
        return job.end("Failed", str(e)[:MAX_REASON])
    except _Stopped:
        return job.end("Stopped")
    except Exception as e:  # a bug of ours: the job still ends, with the traceback in its log
        for line in traceback.format_exc().splitlines():
            job.log.line(line)
        return job.end("Failed", f"InternalServerError: {type(e).__name__}: {e}"[:MAX_REASON])
    finally:
        job.close()


def _failure_reason(job: _Job, result: ProcessResult, toolkit: str | None = None) -> str:
    """AWS's shape: `AlgorithmError: <failure file or error output>, exit code: N`."""
    code = result.exit_code
    written = _read_text(job.root / "output" / "failure")
    if written and written.strip():
        return _fit("AlgorithmError: ", written.strip(), f", exit code: {code}")
    error = _error_text(result.stderr_tail) or "See job logs for more information"
    if toolkit is not None:  # script mode: what the SageMaker training toolkit reports
        return _fit(f'AlgorithmError: ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "', error,
                    f'"\nCommand "{toolkit[:200]}", exit code: {code}')
    return _fit("AlgorithmError: ", error, f", exit code: {code}")


# ====================================================================== processing
def run_processing_job(name: str, request: dict[str, Any], region: str, workdir: Path,
                       stop: threading.Event, *, sandbox: str | None = None,
                       stop_grace: float | None = None) -> JobOutcome:
    """Run a CreateProcessingJob request to its end (blocking) and describe how it ended.

    `sandbox` forces `namespace` or `fallback` (default: LOCALCLOUD_JOB_SANDBOX, else auto);
    `stop_grace` is the SIGTERM-to-SIGKILL delay (default: LOCALCLOUD_STOP_GRACE_SECONDS or 5 s).
    """
    job = _Job("Processing", name, request, region, workdir, stop, sandbox, stop_grace)
    return _guarded(job, lambda: _processing(job))


def _processing_io(request: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Validated (S3Uri, LocalPath) inputs and (name, LocalPath, S3Uri) outputs."""
    inputs = []
    for item in request.get("ProcessingInputs") or []:
        label = item.get("InputName", "?")
        s3in = item.get("S3Input")
        if not s3in:
            kind = "DatasetDefinition" if item.get("DatasetDefinition") else "a source other than S3Input"
            raise _JobError(f"ClientError: processing input {label} uses {kind}, which localcloud cannot run")
        if s3in.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise _JobError(f"ClientError: processing input {label}: S3DataType "
                            f"{s3in.get('S3DataType')} is not supported locally (only S3Prefix)")
        if s3in.get("S3InputMode", "File") != "File":
            raise _JobError(f"ClientError: processing input {label}: S3InputMode "
                            f"{s3in.get('S3InputMode')} is not supported locally (only File)")
        if not s3in.get("S3Uri") or not s3in.get("LocalPath"):
            raise _JobError(f"ClientError: processing input {label} needs S3Uri and LocalPath")
        inputs.append((s3in["S3Uri"], s3in["LocalPath"]))
    outputs = []
    for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        label = item.get("OutputName", "?")
        s3out = item.get("S3Output")
        if not s3out:
            raise _JobError(f"ClientError: processing output {label} is not an S3Output, which localcloud "
                            f"cannot write")
        if not s3out.get("S3Uri") or not s3out.get("LocalPath"):
            raise _JobError(f"ClientError: processing output {label} needs S3Uri and LocalPath")
        outputs.append((label, s3out["LocalPath"], s3out["S3Uri"]))
    for path in [p for _, p in inputs] + [p for _, p, _ in outputs]:
        norm = os.path.normpath(path)
        if not norm.startswith("/opt/ml/processing/"):
            raise _JobError(f"ClientError: LocalPath {path!r} must begin with /opt/ml/processing/")
    return inputs, outputs


def _processing(job: _Job) -> JobOutcome:
    request = job.request
    app = request.get("AppSpecification") or {}
    inputs, outputs = _processing_io(request)
    max_runtime = _max_runtime(request)
    job.prepare(app.get("ImageUri"))
    cluster = (request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    if int(cluster.get("InstanceCount") or 1) > 1:
        job.log.note(f"InstanceCount {cluster['InstanceCount']} requested: localcloud runs one ({HOST})")

    for uri, local in inputs:
        job.check_stop()
        job.download(uri, local)
    for _, local, _ in outputs:
        job.host(local, "LocalPath").mkdir(parents=True, exist_ok=True)
    (job.root / "output").mkdir(exist_ok=True)
    config = dict(request, ProcessingJobName=job.name)
    _write_json(job.root / "config" / "processingjobconfig.json", config)
    _write_json(job.root / "config" / "resourceconfig.json", _resource_config(cluster.get("InstanceType")))

    assert job.runtime is not None
    entry = list(app.get("ContainerEntrypoint") or []) or list(job.runtime.command)
    if not entry:
        raise _JobError(f"ClientError: image {app.get('ImageUri')} would run its default entrypoint, which "
                        f"localcloud cannot know: set AppSpecification.ContainerEntrypoint")
    argv = job.resolve_argv(entry + [str(a) for a in app.get("ContainerArguments") or []])
    env = job.base_env() | job.user_env()
    if job.runtime.pythonpath:  # a built-in image's program is localcloud's own
        env["PYTHONPATH"] = job.runtime.pythonpath
    result = job.run(argv, str(job.scratch), env, max_runtime)

    message = _read_text(job.root / "output" / "message")
    job.outcome.exit_message = message if message else None
    if result.ended_by == "stop":
        return job.end("Stopped")
    if result.ended_by == "timeout":
        return job.end("Failed", f"MaxRuntimeExceeded: the job ran longer than "
                                 f"StoppingCondition.MaxRuntimeInSeconds ({max_runtime:g} s) and was stopped")
    if result.exit_code != 0:
        return job.end("Failed", _failure_reason(job, result))
    for label, local, uri in outputs:
        try:
            count = job_s3.upload_dir(job.host(local, "LocalPath"), uri, job.region)
        except job_s3.JobDataError as e:
            raise _JobError(str(e)) from e
        job.log.note(f"uploaded {count} file(s) of output {label} from {local} to {uri}")
    return job.end("Completed")


# ====================================================================== training
def run_training_job(name: str, request: dict[str, Any], region: str, workdir: Path,
                     stop: threading.Event, *, sandbox: str | None = None,
                     stop_grace: float | None = None) -> JobOutcome:
    """Run a CreateTrainingJob request to its end (blocking) and describe how it ended.

    Runs AlgorithmSpecification.ContainerEntrypoint when given, else script mode from the
    `sagemaker_program` / `sagemaker_submit_directory` hyperparameters.
    """
    job = _Job("Training", name, request, region, workdir, stop, sandbox, stop_grace)
    return _guarded(job, lambda: _training(job))


def _decode_hp(value: Any) -> Any:
    """Hyperparameters arrive as strings; script mode JSON-encodes them (the toolkit decodes)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _arg_text(value: Any) -> str:
    """How the training toolkit prints a decoded hyperparameter on the command line."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _env_text(value: Any) -> str:
    """How the training toolkit puts a value into an SM_* variable."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def hyperparameter_args(hyperparameters: dict[str, Any]) -> list[str]:
    """`--name value` pairs in name order (`-n` for one-letter names), as the toolkit builds them."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        args += [f"--{key}" if len(key) > 1 else f"-{key}", _arg_text(hyperparameters[key])]
    return args


def _channels(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Validated (channel, S3Uri, inputdataconfig entry) triples."""
    default_mode = (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode") or "File"
    seen: set[str] = set()
    out = []
    for ch in request.get("InputDataConfig") or []:
        name = ch.get("ChannelName") or ""
        if not _CHANNEL_NAME.match(name) or name in (".", ".."):
            raise _JobError(f"ClientError: channel name {name!r} is invalid")
        if name in seen:
            raise _JobError(f"ClientError: channel {name} appears twice in InputDataConfig")
        seen.add(name)
        source = (ch.get("DataSource") or {}).get("S3DataSource")
        if not source:
            raise _JobError(f"ClientError: channel {name}: only S3DataSource can be read locally")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise _JobError(f"ClientError: channel {name}: S3DataType {source.get('S3DataType')} is not "
                            f"supported locally (only S3Prefix)")
        mode = ch.get("InputMode") or default_mode
        if mode == "Pipe":
            raise _JobError(f"ClientError: channel {name}: Pipe input mode is not supported locally")
        entry = {"TrainingInputMode": mode,
                 "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
                 "RecordWrapperType": ch.get("RecordWrapperType", "None")}
        if ch.get("ContentType"):
            entry["ContentType"] = ch["ContentType"]
        out.append((name, source.get("S3Uri") or "", entry))
    return out


def _metric_hook(job: _Job, definitions: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Install a line hook keeping the last value of each MetricDefinitions regex."""
    compiled = []
    for d in definitions:
        try:
            compiled.append((d["Name"], re.compile(d["Regex"])))
        except (KeyError, TypeError, re.error) as e:
            job.log.note(f"metric definition {d!r} ignored: {e}")
    found: dict[str, tuple[float, float]] = {}
    if not compiled:
        return found

    def hook(line: str, ts: float) -> None:
        for metric, regex in compiled:
            m = regex.search(line)
            if m is None:
                continue
            try:
                value = float(m.group(1) if regex.groups else m.group(0))
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                found[metric] = (value, ts)

    job.line_hooks.append(hook)
    return found


def _script_mode(job: _Job, program: str, submit_dir: Any, user_args: list[str]) -> tuple[list[str], str]:
    """Fetch the source dir into /opt/ml/code and build the entry point's command, as the toolkit does.

    Returns the argv and the command as the toolkit's error message shows it.
    """
    assert job.runtime is not None
    code = job.root / "code"
    if submit_dir:
        job.check_stop()
        try:
            job_s3.fetch_and_extract(str(submit_dir), code, job.region)
        except job_s3.JobDataError as e:
            raise _JobError(str(e)) from e
        job.log.note(f"code from {submit_dir} extracted to /opt/ml/code")
    parts = PurePosixPath(program).parts
    if not parts or program.startswith("/") or ".." in parts:
        raise _JobError(f"ClientError: sagemaker_program {program!r} must be a path inside its source")
    if not (code / program).is_file():
        raise _JobError(f"ClientError: entry point {program} not found in /opt/ml/code "
                        f"(sagemaker_submit_directory={submit_dir!r})")
    if (code / "requirements.txt").is_file():
        job.install_requirements(code / "requirements.txt")
    if program.endswith(".py"):
        argv = [job.runtime.python, program, *user_args]
        shown = [os.path.basename(job.runtime.python), program, *user_args]
    elif program.endswith(".sh"):
        argv = shown = ["/bin/sh", program, *user_args]
    else:
        (code / program).chmod(0o755)
        argv = shown = [f"./{program}", *user_args]
    return argv, " ".join(shown)


def _toolkit_env(job: _Job, *, hps: dict[str, Any], user_args: list[str], program: str,
                 submit_dir: Any, channels: list[str], input_config: dict[str, Any],
                 resource_config: dict[str, Any]) -> dict[str, str]:
    """The SM_* variables the SageMaker training toolkit exports, with paths as the job sees them."""
    view = job.view
    user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    framework_params = {k: v for k, v in hps.items() if k.startswith("sagemaker_")
                        and k not in ("sagemaker_program", "sagemaker_submit_directory")}
    channel_dirs = {c: view(f"/opt/ml/input/data/{c}") for c in channels}
    common = {
        "current_host": HOST,
        "current_instance_type": resource_config["current_instance_type"],
        "hosts": [HOST],
        "input_config_dir": view("/opt/ml/input/config"),
        "input_data_config": input_config,
        "input_dir": view("/opt/ml/input"),
        "is_master": True,
        "log_level": 20,
        "master_hostname": HOST,
        "model_dir": view("/opt/ml/model"),
        "module_dir": str(submit_dir or ""),
        "module_name": program.removesuffix(".py").removesuffix(".sh").replace("/", "."),
        "network_interface_name": "eth0",
        "num_cpus": _cpu_count(),
        "num_gpus": 0,
        "num_neurons": 0,
        "output_data_dir": view("/opt/ml/output/data"),
        "output_dir": view("/opt/ml/output"),
        "output_intermediate_dir": view("/opt/ml/output/intermediate"),
        "resource_config": resource_config,
        "user_entry_point": program,
    }
    training_env = common | {"additional_framework_parameters": framework_params,
                             "channel_input_dirs": channel_dirs, "hyperparameters": user_hps,
                             "job_name": job.name}
    values = common | {"hps": user_hps, "framework_params": framework_params, "channels": sorted(channel_dirs),
                       "training_env": training_env, "user_args": user_args}
    values |= {f"channel_{c}": d for c, d in channel_dirs.items()}
    values |= {f"hp_{k}": v for k, v in user_hps.items()}
    env = {f"SM_{k.upper()}": _env_text(v) for k, v in values.items()}
    env["TRAINING_JOB_NAME"] = job.name
    env["TRAINING_JOB_ARN"] = f"arn:aws:sagemaker:{job.region}:{aws.ACCOUNT_ID}:training-job/{job.name}"
    return env


def _checkpoints(job: _Job, config: dict[str, Any], direction: str) -> None:
    """CheckpointConfig: restore before the run, save after it (whatever the outcome, like AWS)."""
    if not config.get("S3Uri"):
        return
    local = job.host(config.get("LocalPath") or "/opt/ml/checkpoints", "CheckpointConfig.LocalPath")
    try:
        if direction == "restore":
            local.mkdir(parents=True, exist_ok=True)
            count = job_s3.download(config["S3Uri"], local, job.region)
            job.log.note(f"restored {count} checkpoint file(s) from {config['S3Uri']}")
        else:
            job_s3.upload_dir(local, config["S3Uri"], job.region)
    except job_s3.JobDataError as e:  # no checkpoints yet is the usual first run
        job.log.note(f"checkpoints not {direction}d: {e}")


def _upload_model(job: _Job, output_uri: str, stopped: bool) -> None:
    """model.tar.gz (and output.tar.gz when /opt/ml/output/data has files) beside each other."""
    model_dir = job.root / "model"
    if stopped and not any(model_dir.iterdir()):
        return  # AWS saves what a stopped job left in /opt/ml/model, and nothing if it left nothing
    model_uri = job_s3.join_uri(output_uri, "model.tar.gz")
    data_dir = job.root / "output" / "data"
    try:
        job_s3.upload_tar_gz(model_dir, model_uri, job.region)
        job.outcome.model_artifacts = model_uri
        if data_dir.is_dir() and any(data_dir.iterdir()):
            data_uri = job_s3.join_uri(output_uri, "output.tar.gz")
            job_s3.upload_tar_gz(data_dir, data_uri, job.region)
    except job_s3.JobDataError as e:
        raise _JobError(str(e)) from e
    job.log.note(f"model uploaded to {model_uri}")


def _training(job: _Job) -> JobOutcome:
    request = job.request
    algo = request.get("AlgorithmSpecification") or {}
    if algo.get("AlgorithmName") and not algo.get("TrainingImage"):
        raise _JobError(f"ClientError: algorithm {algo['AlgorithmName']} cannot run locally: no container "
                        f"runtime is available")
    output_path = (request.get("OutputDataConfig") or {}).get("S3OutputPath")
    if not output_path:
        raise _JobError("ClientError: OutputDataConfig.S3OutputPath is required")
    channels = _channels(request)
    max_runtime = _max_runtime(request)
    raw_hps = request.get("HyperParameters") or {}
    hps = {str(k): _decode_hp(v) for k, v in raw_hps.items()}
    given_env = request.get("Environment") or {}
    program = hps.get("sagemaker_program") or given_env.get("SAGEMAKER_PROGRAM")
    submit_dir = hps.get("sagemaker_submit_directory") or given_env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    entrypoint = list(algo.get("ContainerEntrypoint") or [])
    if not entrypoint and not program:
        raise _JobError(f"ClientError: image {algo.get('TrainingImage')} would run its default training "
                        f"command, which localcloud cannot know: give a sagemaker_program hyperparameter "
                        f"(script mode) or AlgorithmSpecification.ContainerEntrypoint")
    job.prepare(algo.get("TrainingImage"))
    resources = request.get("ResourceConfig") or {}
    if int(resources.get("InstanceCount") or 1) > 1:
        job.log.note(f"InstanceCount {resources['InstanceCount']} requested: localcloud runs one ({HOST})")

    # ---- the /opt/ml tree
    for channel, uri, _ in channels:
        job.check_stop()
        job.download(uri, f"/opt/ml/input/data/{channel}")
    for sub in ("model", "output/data", "code", "input/config", "output/intermediate"):
        (job.root / sub).mkdir(parents=True, exist_ok=True)
    checkpoint = request.get("CheckpointConfig") or {}
    _checkpoints(job, checkpoint, "restore")
    input_config = {channel: entry for channel, _, entry in channels}
    resource_config = _resource_config(resources.get("InstanceType"))
    config_dir = job.root / "input" / "config"
    _write_json(config_dir / "hyperparameters.json", raw_hps)
    _write_json(config_dir / "inputdataconfig.json", input_config)
    _write_json(config_dir / "resourceconfig.json", resource_config)
    _write_json(config_dir / "trainingjobconfig.json", dict(request, TrainingJobName=job.name))

    # ---- what to run, and with which environment
    user_args = hyperparameter_args({k: v for k, v in hps.items() if not k.startswith("sagemaker_")})
    toolkit_cmd: str | None = None
    if entrypoint:
        argv = job.resolve_argv(entrypoint + [str(a) for a in algo.get("ContainerArguments") or []])
    else:
        argv, toolkit_cmd = _script_mode(job, str(program), submit_dir, user_args)
    env = job.base_env() | job.user_env() | _toolkit_env(
        job, hps=hps, user_args=user_args, program=str(program or ""), submit_dir=submit_dir,
        channels=[c for c, _, _ in channels], input_config=input_config, resource_config=resource_config)
    code_dir = job.view("/opt/ml/code")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_dir, env.get("PYTHONPATH")) if p)

    metrics = _metric_hook(job, algo.get("MetricDefinitions") or [])
    result = job.run(argv, code_dir, env, max_runtime)

    # ---- outcome and uploads
    job.outcome.final_metrics = [
        {"MetricName": metric, "Value": value, "Timestamp": datetime.fromtimestamp(ts, UTC)}
        for metric, (value, ts) in metrics.items()]
    _checkpoints(job, checkpoint, "save")
    if result.ended_by is None and result.exit_code != 0:
        return job.end("Failed", _failure_reason(job, result, toolkit_cmd))
    _upload_model(job, job_s3.join_uri(output_path, job.name, "output"), stopped=result.ended_by is not None)
    if result.ended_by == "timeout":
        job.outcome.secondary_status = "MaxRuntimeExceeded"
        return job.end("Stopped", f"MaxRuntimeExceeded: Training job exceeded "
                                  f"StoppingCondition.MaxRuntimeInSeconds ({max_runtime:g} s)")
    return job.end("Stopped" if result.ended_by == "stop" else "Completed")
