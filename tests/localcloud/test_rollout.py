"""The rollout runner on a fake clock: traffic steps and baking, rollback on an alarm or a timeout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud import clock
from localcloud.sagemaker.deployment_plan import plan
from localcloud.sagemaker.rollout import run_rollout


class FakeTime:
    """A clock that advances only when the runner sleeps; alarms fire from a given moment on."""

    def __init__(self, alarm_at: float | None = None, gone_at: float | None = None):
        self.now = 0.0
        self.alarm_at, self.gone_at = alarm_at, gone_at
        self.shares: list[tuple[float, float]] = []

    def sleep(self, seconds: float) -> bool:
        self.now += seconds
        return self.gone_at is None or self.now < self.gone_at

    def firing(self) -> list[str]:
        return ["errors"] if self.alarm_at is not None and self.now >= self.alarm_at else []

    def set_share(self, share: float) -> None:
        self.shares.append((self.now, share))


def _canary(wait: int = 60, **extra: object) -> dict:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": wait, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20}},
        **extra}, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}


@pytest.fixture(autouse=True)
def real_time_scale() -> Iterator[None]:
    before = clock.scale()
    clock.set_scale(1)
    yield
    clock.set_scale(before)


def test_a_quiet_canary_shifts_then_bakes_then_shifts_the_rest() -> None:
    fake = FakeTime()
    outcome = run_rollout(plan(_canary(), 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert not outcome.rolled_back and outcome.steps_done == 2
    assert fake.shares == [(0.0, 0.2), (60.0, 1.0)]
    assert fake.now == 120.0  # two baking periods


def test_an_alarm_during_the_canary_bake_rolls_back_within_a_poll() -> None:
    fake = FakeTime(alarm_at=30.5)
    outcome = run_rollout(plan(_canary(), 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert outcome.rolled_back and "errors went into ALARM" in outcome.reason
    assert fake.shares == [(0.0, 0.2), (31.0, 0.0)]  # noticed at the next one-second poll
    assert outcome.steps_done == 1


def test_an_alarm_already_firing_stops_the_first_step() -> None:
    fake = FakeTime(alarm_at=0.0)
    outcome = run_rollout(plan(_canary(), 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert outcome.rolled_back and fake.shares == [(0.0, 0.0)] and outcome.steps_done == 0


def test_linear_steps_and_the_timeout() -> None:
    config = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": 300, "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}},
        "MaximumExecutionTimeoutInSeconds": 700}}
    fake = FakeTime()
    outcome = run_rollout(plan(config, 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert outcome.rolled_back and "MaximumExecutionTimeoutInSeconds (700 s)" in outcome.reason
    assert [s for _, s in fake.shares] == [0.25, 0.5, 0.75, 0.0]


def test_a_deleted_endpoint_ends_the_rollout() -> None:
    fake = FakeTime(gone_at=10)
    outcome = run_rollout(plan(_canary(), 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert outcome.rolled_back and "deleted" in outcome.reason


def test_the_fast_clock_shortens_baking_and_polls_as_often_relative_to_it() -> None:
    clock.set_scale(60)
    fake = FakeTime()
    run_rollout(plan(_canary(), 1), fake.set_share, fake.firing, fake.sleep, lambda: fake.now)
    assert fake.now == pytest.approx(2.0)  # two one-minute bakes in two seconds
    assert fake.shares[1][0] == pytest.approx(1.0)
