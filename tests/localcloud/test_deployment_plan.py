"""Deployment guardrails as plans: the steps, shares and waits each BlueGreenUpdatePolicy gives, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.sagemaker.deployment_plan import PlanError, Step, plan


def _blue_green(routing: dict[str, Any], **policy: Any) -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing, **policy},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}, {"AlarmName": "latency"}]}}


def test_no_deployment_config_is_all_at_once_without_baking() -> None:
    found = plan(None, 2)
    assert (found.kind, found.steps, found.termination_wait_seconds, found.alarms) == (
        "ALL_AT_ONCE", (Step(1.0, 0.0),), 0.0, ())
    assert not found.guarded


def test_all_at_once_bakes_once_and_keeps_blue_for_the_termination_wait() -> None:
    found = plan(_blue_green({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 120}, TerminationWaitInSeconds=60,
                             MaximumExecutionTimeoutInSeconds=1800), 1)
    assert found.steps == (Step(1.0, 120.0),)
    assert (found.termination_wait_seconds, found.timeout_seconds) == (60.0, 1800.0)
    assert found.alarms == ("errors", "latency") and found.guarded


@pytest.mark.parametrize(("size", "instances", "share"), [
    ({"Type": "CAPACITY_PERCENT", "Value": 10}, 1, 0.1),
    ({"Type": "CAPACITY_PERCENT", "Value": 50}, 3, 0.5),
    ({"Type": "INSTANCE_COUNT", "Value": 1}, 4, 0.25),
    ({"Type": "INSTANCE_COUNT", "Value": 2}, 4, 0.5),
])
def test_a_canary_takes_its_share_then_the_rest_baking_after_each(size: dict[str, Any], instances: int,
                                                                 share: float) -> None:
    found = plan(_blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 30, "CanarySize": size}), instances)
    assert found.kind == "CANARY" and found.steps == (Step(share, 30.0), Step(1.0, 30.0))


@pytest.mark.parametrize(("size", "instances", "shares"), [
    ({"Type": "CAPACITY_PERCENT", "Value": 25}, 1, [0.25, 0.5, 0.75, 1.0]),
    ({"Type": "CAPACITY_PERCENT", "Value": 40}, 1, [0.4, 0.8, 1.0]),
    ({"Type": "CAPACITY_PERCENT", "Value": 10}, 1, [round(0.1 * n, 10) for n in range(1, 11)]),
    ({"Type": "INSTANCE_COUNT", "Value": 1}, 3, [1 / 3, 2 / 3, 1.0]),
])
def test_linear_steps_until_green_has_everything(size: dict[str, Any], instances: int, shares: list[float]) -> None:
    found = plan(_blue_green({"Type": "LINEAR", "WaitIntervalInSeconds": 5, "LinearStepSize": size}), instances)
    assert [s.green_share for s in found.steps] == pytest.approx(shares)
    assert {s.bake_seconds for s in found.steps} == {5.0}


@pytest.mark.parametrize(("config", "instances", "message"), [
    (_blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 0,
                  "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60}}), 1, "at most 50%"),
    (_blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 0,
                  "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2}}), 3, "at most 50%"),
    (_blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 0,
                  "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 3}}), 2, "exceeds the variant's 2"),
    (_blue_green({"Type": "CANARY", "WaitIntervalInSeconds": 0}), 1, "CanarySize is required"),
    (_blue_green({"Type": "LINEAR", "WaitIntervalInSeconds": 0,
                  "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 5}}), 1, "10-50%"),
    (_blue_green({"Type": "LINEAR", "WaitIntervalInSeconds": 0,
                  "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 3}}), 4, "10-50%"),
    (_blue_green({"Type": "SOMETIMES", "WaitIntervalInSeconds": 0}), 1, "must be ALL_AT_ONCE, CANARY or LINEAR"),
    ({"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                              "WaitIntervalInSeconds": 0}}, 2, "RollingUpdatePolicy is not supported"),
])
def test_configs_sagemaker_refuses_are_refused_with_the_rule(config: dict[str, Any], instances: int,
                                                            message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(config, instances)
