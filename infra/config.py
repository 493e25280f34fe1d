"""Per-environment settings for the CDK app, as typed, frozen dataclasses.

One `StageConfig` per environment keeps every difference between local, dev and prod in one
reviewed place instead of scattered `if stage == ...` checks in constructs. Names of the
resources the CLI and the monitors look up (pipeline, model package group, endpoint,
monitoring schedules) derive from the stage, so two stages can live in one account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SCHEDULE = re.compile(r"^(rate|cron)\(.+\)$")


@dataclass(frozen=True)
class ServingConfig:
    """The real-time endpoint: size, scaling, data capture, and what its alarms watch for."""

    instance_type: str = "ml.m5.large"
    min_instances: int = 1
    max_instances: int = 2
    invocations_per_instance: int = 600
    """Target of the autoscaling policy: invocations per instance per minute."""
    capture_percent: int = 100
    latency_p99_ms: int = 500
    """ModelLatency p99 above this for 3 minutes raises the latency alarm."""
    errors_5xx: int = 1
    """Invocation5XXErrors per minute at or above this raise the error alarm."""
    drift_threshold: float = 0.1
    """A feature's baseline drift distance above this raises the drift alarm (Model Monitor's default)."""
    rmse_threshold: float = 10.0
    """Model-quality rmse (minutes) above this raises the decay alarm."""


@dataclass(frozen=True)
class StageConfig:
    name: str
    account: str | None
    """None: deploy to the account of the caller's credentials (CDK_DEFAULT_ACCOUNT)."""
    region: str
    retain_data: bool
    """Keep buckets and keys when the stack is deleted (never lose data outside local)."""
    alert_emails: tuple[str, ...] = ()
    retraining_schedule: str | None = "rate(7 days)"
    """EventBridge schedule of the retraining run; None for no schedule."""
    capture_retention_days: int = 30
    log_retention_days: int = 30
    serving: ServingConfig = field(default_factory=ServingConfig)

    def __post_init__(self) -> None:
        problems = [f"alert email {e!r} is not an email address" for e in self.alert_emails if not _EMAIL.match(e)]
        if self.retraining_schedule is not None and not _SCHEDULE.match(self.retraining_schedule):
            problems.append(f"retraining_schedule {self.retraining_schedule!r} must be rate(...) or cron(...)")
        s = self.serving
        if not 1 <= s.min_instances <= s.max_instances:
            problems.append(f"serving instances must satisfy 1 <= min <= max, not {s.min_instances}..{s.max_instances}")
        if not 0 <= s.capture_percent <= 100:
            problems.append(f"capture_percent must be 0..100, not {s.capture_percent}")
        if problems:
            raise ValueError(f"invalid stage {self.name!r}: " + "; ".join(problems))

    @property
    def prefix(self) -> str:
        """What every resource name of this stage starts with."""
        return f"sagestack-{self.name}"

    @property
    def stack_name(self) -> str:
        return f"SageStack-{self.name}"

    @property
    def pipeline_name(self) -> str:
        return f"{self.prefix}-taxi-duration"

    @property
    def model_package_group_prefix(self) -> str:
        """The model package group's name is this and a suffix unique to the stack (infra/registry.py)."""
        return f"{self.prefix}-taxi-duration-"

    @property
    def endpoint_name(self) -> str:
        return f"{self.prefix}-taxi-duration"

    @property
    def data_quality_schedule(self) -> str:
        """The data-quality monitoring schedule's name (its metrics carry it as a dimension)."""
        return f"{self.prefix}-data-quality"

    @property
    def model_quality_schedule(self) -> str:
        return f"{self.prefix}-model-quality"


STAGES: dict[str, StageConfig] = {
    "local": StageConfig(name="local", account="123456789012", region="us-east-1", retain_data=False,
                         retraining_schedule="rate(1 day)", capture_retention_days=7, log_retention_days=7),
    "dev": StageConfig(name="dev", account=None, region="us-east-1", retain_data=False,
                       serving=ServingConfig(capture_percent=100)),
    "prod": StageConfig(name="prod", account=None, region="us-east-1", retain_data=True,
                        capture_retention_days=90, log_retention_days=365,
                        serving=ServingConfig(min_instances=2, max_instances=4, capture_percent=20)),
}


def stage(name: str) -> StageConfig:
    """The config for `name`, or a clear error listing the known stages."""
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None
