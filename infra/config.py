"""Per-environment settings for the CDK app, as typed, frozen dataclasses.

One `StageConfig` per environment keeps every difference between local, dev and prod in one
reviewed place instead of scattered `if stage == ...` checks in constructs. Names of the
resources the CLI and the monitors look up (pipeline, model package group, endpoint,
monitoring schedules) derive from the stage, so two stages can live in one account.
"""

from __future__ import annotations

import math
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
    traffic_routing: str = "ALL_AT_ONCE"
    """How a new model takes the traffic (SageMaker's blue/green deployment guardrails): CANARY
    (`canary_instances` of the new fleet first, then the rest; it needs two instances or more),
    LINEAR (`linear_step_percent` more at each step) or ALL_AT_ONCE. After every step the rollback
    alarms (5XX, latency, the new fleet's latency) are watched for `bake_seconds`; one in ALARM sends
    all traffic back."""
    canary_instances: int = 1
    linear_step_percent: int = 50
    bake_seconds: int = 600
    termination_wait_seconds: int = 300
    """How long the old fleet is kept, idle, after the new one has all the traffic."""
    deployment_timeout_seconds: int = 3600
    """A deployment still running after this is rolled back (MaximumExecutionTimeoutInSeconds)."""

    def deployment_problems(self) -> list[str]:
        """What SageMaker would refuse in these deployment settings (its limits), as sentences."""
        problems = []
        steps = {"CANARY": 2, "ALL_AT_ONCE": 1, "LINEAR": math.ceil(100 / self.linear_step_percent)
                 if self.linear_step_percent > 0 else 0}.get(self.traffic_routing)
        if steps is None:
            return [f"traffic_routing must be CANARY, LINEAR or ALL_AT_ONCE, not {self.traffic_routing!r}"]
        if self.traffic_routing == "CANARY" and not 1 <= self.canary_instances <= self.min_instances / 2:
            problems.append(f"a canary of {self.canary_instances} instance(s) must be at most half of the "
                            f"{self.min_instances} serving instance(s) (use ALL_AT_ONCE for a single instance)")
        if self.traffic_routing == "LINEAR" and not 10 <= self.linear_step_percent <= 50:
            problems.append(f"linear_step_percent must be 10-50, not {self.linear_step_percent}")
        for name in ("bake_seconds", "termination_wait_seconds"):
            if not 0 <= getattr(self, name) <= 3600:
                problems.append(f"{name} must be 0-3600, not {getattr(self, name)}")
        if not 600 <= self.deployment_timeout_seconds <= 28800:
            problems.append(f"deployment_timeout_seconds must be 600-28800, not {self.deployment_timeout_seconds}")
        elif steps and steps * self.bake_seconds > self.deployment_timeout_seconds:
            problems.append(f"deployment_timeout_seconds ({self.deployment_timeout_seconds}) is shorter than the "
                            f"{steps} bake(s) of {self.bake_seconds} s it must cover")
        return problems


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
        problems += s.deployment_problems()
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
    # Two instances (one model server process locally, like any variant) so that a new model goes out as a
    # canary; short bakes: two alarm periods, seconds on localcloud's fast clock.
    "local": StageConfig(name="local", account="123456789012", region="us-east-1", retain_data=False,
                         retraining_schedule="rate(1 day)", capture_retention_days=7, log_retention_days=7,
                         serving=ServingConfig(min_instances=2, max_instances=4, traffic_routing="CANARY",
                                               bake_seconds=120, termination_wait_seconds=60,
                                               deployment_timeout_seconds=1800)),
    # One instance: no canary is possible, so all at once, still baked and guarded by the rollback alarms.
    "dev": StageConfig(name="dev", account=None, region="us-east-1", retain_data=False,
                       serving=ServingConfig(capture_percent=100)),
    "prod": StageConfig(name="prod", account=None, region="us-east-1", retain_data=True,
                        capture_retention_days=90, log_retention_days=365,
                        serving=ServingConfig(min_instances=2, max_instances=4, capture_percent=20,
                                              traffic_routing="CANARY")),
}


def stage(name: str) -> StageConfig:
    """The config for `name`, or a clear error listing the known stages."""
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}") from None
