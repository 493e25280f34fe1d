"""An endpoint update's deployment guardrails as a plan: the traffic steps, their baking, the waits.

UpdateEndpoint with a `DeploymentConfig.BlueGreenUpdatePolicy` shifts traffic from the old (blue)
fleet to the new (green) one in steps, each followed by a baking period in which the
`AutoRollbackConfiguration` alarms are watched:

- ALL_AT_ONCE: all traffic to green, then a baking period;
- CANARY: `CanarySize` of the capacity first (at most half of the variant's instances), bake, then
  the rest, bake again;
- LINEAR: `LinearStepSize` more of the capacity at each step (10 to 50 % of the instances), baking
  after each, until green has all of it.

Every baking period lasts `WaitIntervalInSeconds`. Once green has everything and its last bake
passed, blue is kept `TerminationWaitInSeconds` more, then terminated; the whole update may take
at most `MaximumExecutionTimeoutInSeconds` (the runner rolls back when it passes). Without a
DeploymentConfig, SageMaker updates blue/green all at once with no baking. A
`RollingUpdatePolicy` is refused with the reason: localcloud runs one process per variant, so
there are no instance batches to roll.

Pure: this module reads a request and returns a plan or a ValidationError-worthy message; the
endpoint runner carries it out on localcloud's clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["DeploymentPlan", "PlanError", "Step", "plan"]


class PlanError(ValueError):
    """The DeploymentConfig cannot be carried out; the message is the ValidationException's."""


@dataclass(frozen=True)
class Step:
    green_share: float
    """The fraction of the traffic the new fleet takes from this step on (the rest stays on blue)."""
    bake_seconds: float
    """How long the rollback alarms are watched after the step, in AWS seconds."""


@dataclass(frozen=True)
class DeploymentPlan:
    kind: str
    """ALL_AT_ONCE, CANARY or LINEAR."""
    steps: tuple[Step, ...]
    termination_wait_seconds: float
    timeout_seconds: float | None
    alarms: tuple[str, ...]
    """Names of the rollback alarms (AutoRollbackConfiguration.Alarms[].AlarmName)."""

    @property
    def guarded(self) -> bool:
        return bool(self.alarms)


def _share(size: dict[str, Any] | None, instances: int, what: str) -> float:
    """A CapacitySize as a share of the variant's capacity."""
    if not size:
        raise PlanError(f"{what} is required for this traffic routing type")
    kind, value = size.get("Type"), size.get("Value")
    if not isinstance(value, int) or value < 1:
        raise PlanError(f"{what}.Value must be a whole number of at least 1")
    if kind == "INSTANCE_COUNT":
        if value > instances:
            raise PlanError(f"{what} of {value} instances exceeds the variant's {instances}")
        return value / instances
    if kind == "CAPACITY_PERCENT":
        if value > 100:
            raise PlanError(f"{what} of {value}% exceeds 100% of the variant's capacity")
        return value / 100
    raise PlanError(f"{what}.Type must be INSTANCE_COUNT or CAPACITY_PERCENT")


def plan(config: dict[str, Any] | None, instances: int) -> DeploymentPlan:
    """The plan for an update of a variant with `instances` instances under `config` (a DeploymentConfig)."""
    if instances < 1:
        raise PlanError("a variant needs at least one instance")
    config = config or {}
    if config.get("RollingUpdatePolicy"):
        raise PlanError("RollingUpdatePolicy is not supported by localcloud (one process serves each variant, so "
                        "there are no instance batches to roll); use BlueGreenUpdatePolicy")
    alarms = tuple(str(a.get("AlarmName", "")) for a in (config.get("AutoRollbackConfiguration") or {}).get(
        "Alarms") or [])
    policy = config.get("BlueGreenUpdatePolicy")
    if not policy:
        return DeploymentPlan("ALL_AT_ONCE", (Step(1.0, 0.0),), 0.0, None, alarms)
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    wait = float(routing.get("WaitIntervalInSeconds", 0))
    termination = float(policy.get("TerminationWaitInSeconds", 0))
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if kind == "ALL_AT_ONCE":
        steps: tuple[Step, ...] = (Step(1.0, wait),)
    elif kind == "CANARY":
        canary = _share(routing.get("CanarySize"), instances, "CanarySize")
        if canary > 0.5:
            raise PlanError(f"CanarySize must be at most 50% of the variant's capacity ({instances} instance"
                            f"{'s' if instances != 1 else ''}); it is {canary:.0%}")
        steps = (Step(canary, wait), Step(1.0, wait))
    elif kind == "LINEAR":
        step = _share(routing.get("LinearStepSize"), instances, "LinearStepSize")
        if not 0.1 <= step <= 0.5:
            raise PlanError(f"LinearStepSize must be 10-50% of the variant's capacity; it is {step:.0%}")
        count = math.ceil(round(1 / step, 9))
        steps = tuple(Step(min(1.0, step * n), wait) for n in range(1, count + 1))
    else:
        raise PlanError(f"TrafficRoutingConfiguration.Type must be ALL_AT_ONCE, CANARY or LINEAR, not {kind!r}")
    return DeploymentPlan(str(kind), steps, termination, float(timeout) if timeout is not None else None, alarms)
