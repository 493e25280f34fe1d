"""Carrying out a deployment plan: shift traffic step by step, bake, watch the rollback alarms.

The runner is pure control flow: it is handed how to set the new fleet's share of the traffic,
how to ask whether a rollback alarm is in ALARM, and how to wait (on localcloud's clock, giving
up early when asked). So the endpoint fleet uses it with real servers and CloudWatch, and tests
use it with a fake clock. Alarms are read before every step and about every second of baking
(scaled: a baking period on the fast clock is watched as often as on AWS, relative to its length,
though at most 20 times a real second), so a rollback starts within one alarm evaluation of the
alarm firing. A bake ends by the clock, so the time the reads take does not lengthen it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from localcloud import clock
from localcloud.sagemaker.deployment_plan import DeploymentPlan

__all__ = ["Outcome", "run_rollout"]

POLL_AWS_SECONDS = 1.0
"""How often (in AWS seconds) the alarms are read while baking."""
MIN_POLL_SECONDS = 0.05
"""But not more often than this (real seconds): on a very fast clock each read would eat the bake."""


@dataclass(frozen=True)
class Outcome:
    rolled_back: bool
    reason: str = ""
    """Why it rolled back: the alarm that fired, or the timeout that passed."""
    steps_done: int = 0


def run_rollout(plan: DeploymentPlan, set_share: Callable[[float], None], firing: Callable[[], list[str]],
                sleep: Callable[[float], bool] | None = None, monotonic: Callable[[], float] = time.monotonic
                ) -> Outcome:
    """Shift traffic to the new fleet as `plan` says; roll back (share 0) when an alarm fires.

    `firing()` names the rollback alarms in ALARM; `sleep(real_seconds)` waits and returns False
    when the wait was cut short (the endpoint is going away), which ends the rollout as rolled back.
    """
    wait = sleep or _sleep
    started = monotonic()
    deadline = started + clock.real_seconds(plan.timeout_seconds) if plan.timeout_seconds else None

    def check() -> str | None:
        fired = firing() if plan.alarms else []
        if fired:
            return f"the rollback alarm{'s' if len(fired) > 1 else ''} {', '.join(fired)} went into ALARM"
        if deadline is not None and monotonic() > deadline:
            return (f"the deployment did not finish within MaximumExecutionTimeoutInSeconds "
                    f"({plan.timeout_seconds:.0f} s)")
        return None

    for done, step in enumerate(plan.steps):
        problem = check()
        if problem:
            set_share(0.0)
            return Outcome(True, problem, done)
        set_share(step.green_share)
        ends = monotonic() + clock.real_seconds(step.bake_seconds)  # by the clock: reading alarms takes time too
        poll = max(clock.real_seconds(POLL_AWS_SECONDS), MIN_POLL_SECONDS)
        while (left := ends - monotonic()) > 0:
            if not wait(min(poll, left)):
                set_share(0.0)
                return Outcome(True, "the endpoint was deleted during the deployment", done)
            problem = check()
            if problem:
                set_share(0.0)
                return Outcome(True, problem, done + 1)
    return Outcome(False, "", len(plan.steps))


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True
