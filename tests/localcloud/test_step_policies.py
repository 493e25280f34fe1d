"""CacheConfig and RetryPolicies as a definition states them: parsed like SageMaker, refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from localcloud.sagemaker.definition import DefinitionError, parse_definition
from localcloud.sagemaker.step_policies import (
    CachedRun,
    CachePolicy,
    RetryPolicy,
    StepCache,
    cache_key,
    parse_duration,
    policy_for,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("P30D", timedelta(days=30)),
    ("PT1H", timedelta(hours=1)),
    ("30d", timedelta(days=30)),
    ("T16m", timedelta(minutes=16)),
    ("30dT5h", timedelta(days=30, hours=5)),
    ("P1Y2M1W", timedelta(days=365 + 60 + 7)),
    ("PT0S", timedelta(0)),
])
def test_expire_after_reads_iso_8601_durations_and_awss_short_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def _step(**extra: object) -> str:
    step = {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}, **extra}
    return json.dumps({"Version": "2020-12-01", "Steps": [step]})


def test_policies_are_parsed_onto_the_step() -> None:
    step = parse_definition(_step(
        CacheConfig={"Enabled": True, "ExpireAfter": "PT2H"},
        RetryPolicies=[{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 3},
                       {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 5, "BackoffRate": 1.5,
                        "ExpireAfterMin": 10}])).steps["Train"]
    assert step.cache == CachePolicy(True, timedelta(hours=2))
    assert step.retry_policies == (
        RetryPolicy(frozenset({"SageMaker.JOB_INTERNAL_ERROR"}), 1.0, 2.0, 3, None),
        RetryPolicy(frozenset({"Step.SERVICE_FAULT"}), 5, 1.5, None, 10))
    assert parse_definition(_step(CacheConfig={"Enabled": False})).steps["Train"].cache is None


@pytest.mark.parametrize(("extra", "message"), [
    ({"CacheConfig": []}, "CacheConfig must be an object"),
    ({"CacheConfig": {"Enabled": "yes"}}, "CacheConfig.Enabled must be true or false"),
    ({"CacheConfig": {"Enabled": True, "ExpireAfter": "soon"}}, "'soon' is not an ISO 8601 duration"),
    ({"CacheConfig": {"Enabled": True, "Expire": "P1D"}}, "CacheConfig has unknown keys ['Expire']"),
    ({"RetryPolicies": {}}, "RetryPolicies must be a list of objects"),
    ({"RetryPolicies": [{"MaxAttempts": 1}]}, "RetryPolicies[0].ExceptionType must be a non-empty list"),
    ({"RetryPolicies": [{"ExceptionType": ["Oops"], "MaxAttempts": 1}]}, "'Oops' is not one of"),
    ({"RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"]}]}, "exactly one of MaxAttempts and ExpireAfterMin"),
    ({"RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 21}]},
     "RetryPolicies[0].MaxAttempts must be an integer from 1 to 20, got 21"),
    ({"RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 2, "IntervalSeconds": 0}]},
     "IntervalSeconds must be an integer from 1 to 43200"),
    ({"RetryPolicies": [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 2, "BackoffRate": True}]},
     "BackoffRate must be a number"),
])
def test_bad_policies_are_refused_at_create_with_the_field_named(extra: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(_step(**extra))
    assert "Step 'Train'" in str(caught.value) and message in str(caught.value)


def test_condition_and_fail_steps_neither_cache_nor_retry() -> None:
    policy = {"CacheConfig": {"Enabled": True}, "RetryPolicies": [
        {"ExceptionType": ["Step.SERVICE_FAULT"], "MaxAttempts": 2}]}
    definition = parse_definition(json.dumps({"Version": "2020-12-01", "Steps": [
        {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}, **policy}]}))
    assert definition.steps["Stop"].cache is None and definition.steps["Stop"].retry_policies == ()


def test_retry_delays_back_off_and_attempts_are_bounded() -> None:
    counted = RetryPolicy(frozenset({"Step.SERVICE_FAULT"}), 2, 3.0, max_attempts=2)
    assert [counted.delay(n) for n in range(3)] == [2, 6, 18]
    assert [counted.allows(n, 0) for n in range(3)] == [True, True, False]
    timed = RetryPolicy(frozenset({"Step.SERVICE_FAULT"}), expire_after_min=5)
    assert timed.allows(50, 4.9) and not timed.allows(0, 5)
    assert policy_for((counted, timed), "Step.SERVICE_FAULT") == 0
    assert policy_for((counted,), "SageMaker.CAPACITY_ERROR") is None
    assert policy_for((counted,), None) is None


def test_cache_key_reads_only_the_documented_attributes() -> None:
    base = {"AppSpecification": {"ImageUri": "i"}, "ProcessingInputs": [{"InputName": "a"}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {"S3Uri": "s3://b/run-1"}}]}}
    moved = {**base, "ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": "s3://b/run-2"}}]}}
    assert cache_key("Processing", base) == cache_key("Processing", moved)
    assert cache_key("Processing", base) == cache_key("Processing", {**base, "Environment": None})
    assert cache_key("Processing", base) != cache_key("Processing", {**base, "Environment": {"A": "1"}})


def test_the_newest_run_within_the_window_is_reused() -> None:
    cache = StepCache()
    ended = datetime(2026, 1, 1, tzinfo=UTC)
    run = CachedRun("arn:exec/1", ended, {"ProcessingJob": {"Arn": "j"}}, {"ProcessingJobName": "j"})
    cache.remember("arn:pipe", "Prep", "k", run)
    day = CachePolicy(True, timedelta(days=1))
    assert cache.find("arn:pipe", "Prep", "k", day, ended + timedelta(hours=23)) == run
    assert cache.find("arn:pipe", "Prep", "k", day, ended + timedelta(days=2)) is None
    assert cache.find("arn:pipe", "Prep", "k", CachePolicy(True, None), ended + timedelta(days=900)) == run
    assert cache.find("arn:pipe", "Other", "k", day, ended) is None
    cache.forget_pipeline("arn:pipe")
    assert cache.find("arn:pipe", "Prep", "k", day, ended) is None
