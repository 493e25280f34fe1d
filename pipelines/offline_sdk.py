"""Use the SageMaker Python SDK v3 as a pure definition compiler: no AWS call, no file config.

Why this exists: the SDK was written to *run* jobs, so on its own it reaches out while a
definition is merely being built:

* at import, some modules create boto3 clients at class-definition time (e.g.
  `sagemaker.ai_registry.air_hub.AIRHub`), which needs a region and walks the
  credential chain (instance metadata, container credential endpoints...);
* builders validate IAM roles with `iam:SimulatePrincipalPolicy` unless
  `SAGEMAKER_VALIDATE_ROLE=false`;
* a `Session` loads `~/.config/sagemaker/config.yaml` and admin config files (which can
  inject tags, KMS keys, subnets into the definition) unless given a config, and sends
  telemetry unless that config opts out.

`hermetic_sdk(region)` sets the few environment variables the SDK reads only for the
duration of the build and restores them afterwards (and, for speed, lets the SDK check our
fixed config against its JSON schema once instead of ~65 times per build, 0.3 s each);
`pipeline_session(region, bucket)` makes a `PipelineSession` with placeholder static
credentials and an explicit minimal config. The environment is process-wide: do not
build definitions while other threads of the same process make AWS calls.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# A config that opts out of telemetry and defines nothing else (so no file is read).
SDK_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
# Placeholder credentials: a definition build never calls AWS, so these only stop boto3
# from searching for real ones (which may mean HTTP calls to metadata endpoints).
PLACEHOLDER_KEY_ID = "HERMETIC-BUILD"
PLACEHOLDER_SECRET = "never-used-for-any-call"

_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextmanager
def _environment(values: dict[str, str], cleared: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*values, *cleared)}
    try:
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _config_checked_once() -> Iterator[None]:
    """Skip the SDK's repeated schema validation of SDK_CONFIG (validated for real once per block)."""
    try:
        from sagemaker.core.config.config_manager import SageMakerConfig

        original = SageMakerConfig.__dict__["validate_sagemaker_config"]
        validate = original.__func__
    except (ImportError, KeyError, AttributeError):  # another SDK layout: keep its behaviour
        yield
        return
    validate(SDK_CONFIG)

    def validate_unless_ours(sagemaker_config: dict | None = None) -> None:
        if sagemaker_config != SDK_CONFIG:
            validate(sagemaker_config)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_unless_ours)
    try:
        yield
    finally:
        SageMakerConfig.validate_sagemaker_config = original


@contextmanager
def hermetic_sdk(region: str) -> Iterator[None]:
    """Within this block the SDK can be imported and used to build definitions offline."""
    env = {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if "sagemaker.mlops.workflow.pipeline" not in sys.modules:
        # First import: its import-time clients find these and look no further.
        env |= {"AWS_ACCESS_KEY_ID": PLACEHOLDER_KEY_ID, "AWS_SECRET_ACCESS_KEY": PLACEHOLDER_SECRET}
    with _environment(env, cleared=_CLEARED), _quiet():
        import sagemaker.mlops.workflow.pipeline  # noqa: F401  (the import is the point)

        with _config_checked_once():
            yield


@contextmanager
def _quiet() -> Iterator[None]:
    """The SDK narrates every build (config files skipped, job names popped) on loggers with levels of
    their own; only errors matter while it merely compiles a definition."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # "Running within a PipelineSession, there will be No Wait, ...": building is all we do.
            warnings.filterwarnings("ignore", message="Running within a PipelineSession", category=UserWarning)
            # ... nor about its own modules having moved (shims it imports itself)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"sagemaker(\.|$)")
            yield
    finally:
        logging.disable(previous)


def pipeline_session(region: str, bucket: str) -> Any:
    """A `PipelineSession` that records requests instead of sending them; call inside `hermetic_sdk`."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    boto_session = boto3.session.Session(
        region_name=region, aws_access_key_id=PLACEHOLDER_KEY_ID, aws_secret_access_key=PLACEHOLDER_SECRET
    )
    return PipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=SDK_CONFIG)
