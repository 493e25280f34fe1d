"""The names the CLI works with, read from the deployed stack (its outputs), with overrides.

Why from the stack: the CDK app creates the buckets, roles, pipeline, model package group,
endpoint and alert topic, and some of their names are generated (a bucket name carries a
random suffix, the group's name a part of the stack's id). Reading them from the stack's
outputs (DescribeStacks on `SageStack-<stage>`) means nothing is copied by hand from a
deploy to the CLI, locally and with `--aws` alike. An option or `SAGESTACK_*` variable still
wins over the stack, for the odd resource that lives elsewhere.

Names are resolved once per command and only when a command needs them (`sagestack up`
needs none); a name that neither the stack nor an override gives fails with a line that
says which and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from botocore.exceptions import ClientError

from infra import outputs
from sagestack.errors import SagestackError
from sagestack.target import Target

STAGES = ("local", "dev", "prod")
LOCAL_STAGE, AWS_STAGE = "local", "dev"
"""The stage used without --stage: `local` on localcloud, `dev` with --aws."""

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def stack_name(stage: str) -> str:
    """The CDK app's stack for `stage` (infra/config.py names it so)."""
    return f"SageStack-{stage}"


@dataclass(frozen=True)
class Overrides:
    """What the user set explicitly (options or SAGESTACK_* variables); None means "from the stack"."""

    stage: str | None = None
    bucket: str | None = None
    model_package_group: str | None = None
    pipeline_name: str | None = None
    endpoint_name: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.stage is not None and self.stage not in STAGES:
            problems.append(f"stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.bucket is not None and (not _BUCKET.match(self.bucket) or ".." in self.bucket):
            problems.append(f"bucket {self.bucket!r} is not a valid S3 bucket name")
        for name in ("model_package_group", "pipeline_name", "endpoint_name"):
            value = getattr(self, name)
            if value is not None and not _SAGEMAKER_NAME.match(value):
                problems.append(f"{name} {value!r} must be 1-63 letters, digits and single hyphens")
        if problems:
            raise SagestackError("invalid settings: " + "; ".join(problems))


# Settings field -> (stack output, the option that overrides it)
_FROM_OUTPUTS = {
    "bucket": (outputs.DATA_BUCKET, "--bucket / SAGESTACK_BUCKET"),
    "model_package_group": (outputs.MODEL_PACKAGE_GROUP, "--model-package-group / SAGESTACK_MODEL_PACKAGE_GROUP"),
    "pipeline_name": (outputs.PIPELINE_NAME, "--pipeline / SAGESTACK_PIPELINE"),
    "endpoint_name": (outputs.ENDPOINT_NAME, "--endpoint-name / SAGESTACK_ENDPOINT_NAME"),
    "input_data_uri": (outputs.INPUT_DATA_URI, None),
    "artifacts_bucket": (outputs.ARTIFACTS_BUCKET, None),
    "capture_bucket": (outputs.CAPTURE_BUCKET, None),
    "pipeline_role_arn": (outputs.PIPELINE_ROLE_ARN, None),
    "model_role_arn": (outputs.MODEL_ROLE_ARN, None),
    "alert_topic_arn": (outputs.ALERT_TOPIC_ARN, None),
    "alert_queue_url": (outputs.ALERT_QUEUE_URL, None),
    "served_model_package": (outputs.SERVED_MODEL_PACKAGE, None),
    "deployer_function": (outputs.DEPLOYER_FUNCTION, None),
    "ground_truth_uri": (outputs.GROUND_TRUTH_URI, None),
}


@dataclass(frozen=True)
class Deployed:
    """What DescribeStacks says about the stage's stack (None fields: it is not deployed)."""

    name: str
    status: str | None = None
    outputs: dict[str, str] | None = None
    parameters: dict[str, str] | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None


def describe_stack(cloudformation: Any, name: str) -> Deployed:
    """The stack's status, outputs and parameters, or an empty `Deployed` when there is no such stack."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as e:
        if "does not exist" in str(e.response.get("Error", {}).get("Message", "")):
            return Deployed(name)
        raise
    stack = stacks[0]
    return Deployed(name, stack["StackStatus"],
                    {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []},
                    {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []})


@dataclass(frozen=True)
class Settings:
    """Resolved names for one target and stage; `need()` them to get a clear error when one is unknown."""

    region: str
    stage: str
    stack: Deployed
    where: str
    """The target, in words (for messages)."""
    aws: bool = False
    bucket: str | None = None
    model_package_group: str | None = None
    pipeline_name: str | None = None
    endpoint_name: str | None = None
    input_data_uri: str | None = None
    artifacts_bucket: str | None = None
    capture_bucket: str | None = None
    pipeline_role_arn: str | None = None
    model_role_arn: str | None = None
    alert_topic_arn: str | None = None
    alert_queue_url: str | None = None
    served_model_package: str | None = None
    deployer_function: str | None = None
    ground_truth_uri: str | None = None

    def need(self, name: str) -> str:
        """The value of `name`, or a SagestackError saying why it is unknown and what to do."""
        value = getattr(self, name)
        if value:
            return str(value)
        _, option = _FROM_OUTPUTS[name]
        if not self.stack.exists:
            hint = f" or set {option}" if option else ""
            default = AWS_STAGE if self.aws else LOCAL_STAGE
            command = "sagestack" + (" --aws" if self.aws else "") + (
                f" --stage {self.stage}" if self.stage != default else "")
            raise SagestackError(f"stack {self.stack.name} is not deployed on {self.where}: deploy it with "
                                 f"`{command} deploy`{hint}")
        raise SagestackError(f"stack {self.stack.name} ({self.stack.status}) has no output "
                             f"{_FROM_OUTPUTS[name][0]}: deploy the current app (`sagestack deploy`)")

    def sources(self) -> list[tuple[str, str, str]]:
        """(setting, value, where it came from) for everything resolved, for `sagestack names`."""
        found = []
        for f in fields(self):
            if f.name in _FROM_OUTPUTS and getattr(self, f.name):
                output = _FROM_OUTPUTS[f.name][0]
                from_stack = (self.stack.outputs or {}).get(output) == getattr(self, f.name)
                found.append((f.name, str(getattr(self, f.name)),
                              f"output {output} of {self.stack.name}" if from_stack else "override"))
        return found


def resolve(target: Target, overrides: Overrides, cloudformation: Any) -> Settings:
    """Read the stage's stack and lay the overrides over its outputs."""
    stage = overrides.stage or (AWS_STAGE if target.aws else LOCAL_STAGE)
    deployed = describe_stack(cloudformation, stack_name(stage))
    found = deployed.outputs or {}
    values = {name: found.get(output) for name, (output, _) in _FROM_OUTPUTS.items()}
    for name in ("bucket", "model_package_group", "pipeline_name", "endpoint_name"):
        if getattr(overrides, name):
            values[name] = getattr(overrides, name)
    return Settings(region=target.region_name, stage=stage, stack=deployed, where=target.description, aws=target.aws,
                    **values)
