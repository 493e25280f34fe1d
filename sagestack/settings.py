"""The names the CLI works with (bucket, model package group, pipeline, endpoint, role).

Why one typed object: every command must agree on the same names, the defaults must be
right for localcloud without any flag, and on AWS each name must be overridable (by an
option or a `SAGESTACK_*` variable) to match what the CDK app deployed. Names are
validated here, once, with messages that name the setting, so a typo fails before any
request is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from sagestack.errors import SagestackError
from sagestack.target import Target

DEFAULT_NAME = "sagestack-taxi-duration"
DEFAULT_PREFIX = "taxi-duration"
LOCAL_BUCKET = "sagestack-local"
ROLE_NAME = "sagestack-sagemaker-execution"

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}$")


@dataclass(frozen=True)
class Overrides:
    """What the user set explicitly (options or SAGESTACK_* variables); None means the default."""

    bucket: str | None = None
    model_package_group: str | None = None
    pipeline_name: str | None = None
    endpoint_name: str | None = None
    role_arn: str | None = None
    prefix: str | None = None


@dataclass(frozen=True)
class Settings:
    """Resolved, validated names for one target.

    `prefix` is the key prefix of everything the taxi workload keeps in the bucket (code,
    data, runs, data capture), the same prefix the pipeline definition uses.
    """

    region: str
    account: str
    bucket: str
    model_package_group: str
    pipeline_name: str
    endpoint_name: str
    role_arn: str
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        problems = []
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            problems.append(f"bucket {self.bucket!r} is not a valid S3 bucket name")
        for name in ("model_package_group", "pipeline_name", "endpoint_name"):
            if not _SAGEMAKER_NAME.match(getattr(self, name)):
                problems.append(f"{name} {getattr(self, name)!r} must be 1-63 letters, digits and single hyphens")
        if not _ROLE_ARN.match(self.role_arn):
            problems.append(f"role_arn {self.role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        if not self.prefix or self.prefix != self.prefix.strip("/") or "//" in self.prefix:
            problems.append(f"prefix {self.prefix!r} must be non-empty, without leading/trailing or double slashes")
        if problems:
            raise SagestackError("invalid settings: " + "; ".join(problems))

    @property
    def capture_uri(self) -> str:
        """Where endpoints deployed by the CLI write their data capture."""
        return f"s3://{self.bucket}/{self.prefix}/data-capture"

    @property
    def data_uri(self) -> str:
        """The pipeline's default raw-data location (its InputDataUri default)."""
        return f"s3://{self.bucket}/{self.prefix}/data/"

    def as_dict(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


def resolve(target: Target, overrides: Overrides) -> Settings:
    """Fill in the defaults for `target`; asks STS for the account only on AWS."""
    region = target.region_name
    account = target.account_id
    bucket = overrides.bucket or (f"sagestack-{account}-{region}" if target.aws else LOCAL_BUCKET)
    return Settings(
        region=region,
        account=account,
        bucket=bucket,
        model_package_group=overrides.model_package_group or DEFAULT_NAME,
        pipeline_name=overrides.pipeline_name or DEFAULT_NAME,
        endpoint_name=overrides.endpoint_name or DEFAULT_NAME,
        role_arn=overrides.role_arn or f"arn:aws:iam::{account}:role/{ROLE_NAME}",
        prefix=overrides.prefix or DEFAULT_PREFIX,
    )
