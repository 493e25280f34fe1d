"""Server settings: command-line options over environment variables over defaults.

The environment variables are SageMaker's own (the container contract), so the same image or
process behaves the same under SageMaker, our local emulator, or a developer's shell. The few
settings SageMaker has no variable for are ``MODELSERVER_*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MB = 1024 * 1024

# (setting, environment variable, default); the CLI exposes each as --setting-name.
ENVIRONMENT = (
    ("host", "MODELSERVER_HOST", "127.0.0.1"),
    ("port", "SAGEMAKER_BIND_TO_PORT", "8080"),
    ("workers", "SAGEMAKER_MODEL_SERVER_WORKERS", "1"),
    ("timeout", "SAGEMAKER_MODEL_SERVER_TIMEOUT", "60"),
    ("program", "SAGEMAKER_PROGRAM", ""),
    ("submit_dir", "SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/code"),
    ("model_dir", "SM_MODEL_DIR", "/opt/ml/model"),
    ("default_accept", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json"),
    ("max_payload_mb", "MODELSERVER_MAX_PAYLOAD_MB", "6"),
    ("header_timeout", "MODELSERVER_HEADER_TIMEOUT", "10"),
    ("max_header_kb", "MODELSERVER_MAX_HEADER_KB", "64"),
    ("batching", "MODELSERVER_BATCHING", "auto"),
    ("max_batch_rows", "MODELSERVER_MAX_BATCH_ROWS", "1024"),
    ("serving_warnings", "MODELSERVER_WARNINGS", "ignore"),
    ("log_level", "MODELSERVER_LOG_LEVEL", "info"),
)


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    timeout: float
    program: str
    submit_dir: str
    model_dir: str
    default_accept: str
    max_payload_bytes: int
    header_timeout: float
    """Seconds a client has to send a request's whole header block."""
    max_header_bytes: int
    batching: bool
    max_batch_rows: int
    keep_warnings: bool
    log_level: str


def _number(kind: type, name: str, variable: str, raw: str, minimum: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{variable}={raw!r}: {name} must be a number") from None
    if value < minimum:
        raise SettingsError(f"{variable}={raw!r}: {name} must be at least {minimum}")
    return value


def resolve(options: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from explicit options (None = not given), then the environment, then defaults."""
    options = options or {}
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    source: dict[str, str] = {}
    for name, variable, default in ENVIRONMENT:
        given = options.get(name)
        if given is not None:
            raw[name], source[name] = str(given), f"--{name.replace('_', '-')}"
        else:
            raw[name], source[name] = environ.get(variable, default), variable
    workers = raw["workers"].strip().lower()
    if workers == "auto":
        workers = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    batching = raw["batching"].strip().lower()
    if batching not in ("auto", "off"):
        raise SettingsError(f"{source['batching']}={raw['batching']!r}: use auto or off")
    warnings_mode = raw["serving_warnings"].strip().lower()
    if warnings_mode not in ("ignore", "keep"):
        raise SettingsError(f"{source['serving_warnings']}={raw['serving_warnings']!r}: use ignore or keep")
    level = raw["log_level"].strip().lower()
    if level not in ("debug", "info", "warning", "error"):
        raise SettingsError(f"{source['log_level']}={raw['log_level']!r}: use debug, info, warning or error")
    port = int(_number(int, "the port", source["port"], raw["port"], 0))
    if port > 65535:
        raise SettingsError(f"{source['port']}={port}: the port must be at most 65535")
    return Settings(
        host=raw["host"],
        port=port,
        workers=int(_number(int, "the worker count", source["workers"], workers, 1)),
        timeout=_number(float, "the timeout", source["timeout"], raw["timeout"], 0.001),
        program=raw["program"],
        submit_dir=raw["submit_dir"],
        model_dir=raw["model_dir"],
        default_accept=raw["default_accept"],
        max_payload_bytes=int(
            _number(float, "the payload limit", source["max_payload_mb"], raw["max_payload_mb"], 0) * MB
        ),
        header_timeout=_number(float, "the header timeout", source["header_timeout"], raw["header_timeout"], 0.001),
        max_header_bytes=int(
            _number(float, "the header limit", source["max_header_kb"], raw["max_header_kb"], 1) * 1024
        ),
        batching=batching == "auto",
        max_batch_rows=int(_number(int, "the batch size", source["max_batch_rows"], raw["max_batch_rows"], 1)),
        keep_warnings=warnings_mode == "keep",
        log_level=level,
    )
