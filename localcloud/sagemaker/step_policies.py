"""A pipeline step's CacheConfig and RetryPolicies, as SageMaker documents them.

Caching: a step with ``CacheConfig.Enabled`` reuses the most recent successful run of the same
step of the same pipeline whose cache-key attributes (per step type, below) resolved to the same
values, if that run ended within ``ExpireAfter``. The step then succeeds at once with the
earlier run's metadata and properties, and its row carries ``CacheHitResult``.

Retries: a policy names the exception types it retries; a failed attempt whose type one of the
step's policies lists runs again after ``IntervalSeconds * BackoffRate ** n`` seconds, at most
``MaxAttempts`` times or until ``ExpireAfterMin`` minutes after the first attempt. In localcloud
the types that can happen are ``SageMaker.JOB_INTERNAL_ERROR`` (a job ended Failed with an
InternalServerError) and ``Step.SERVICE_FAULT`` (localcloud failed while running the step);
there is no throttling, capacity or quota to run out of.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

CACHE_KEYS: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
                 "Environment", "HyperParameters", "InputDataConfig"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}
"""The attributes of each cacheable step type's request that decide whether an earlier run is reused."""

RETRYABLE_STEPS = frozenset({"Processing", "Training", "Tuning", "AutoML", "Model", "CreateModel", "RegisterModel",
                             "Transform", "NotebookJob"})
EXCEPTION_TYPES = frozenset({"Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR",
                             "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"})
SERVICE_FAULT = "Step.SERVICE_FAULT"
JOB_INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"
MAX_ATTEMPTS = 20
MAX_EXPIRE_AFTER_MIN = 14400
MAX_INTERVAL_SECONDS = 43200

_DURATION = re.compile(
    r"P?(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?", re.IGNORECASE)
_UNIT_DAYS = {"years": 365, "months": 30, "weeks": 7, "days": 1}
_UNIT_SECONDS = {"hours": 3600, "minutes": 60, "seconds": 1}


class PolicyError(ValueError):
    """A CacheConfig or RetryPolicy AWS would refuse; the message says which field and why."""


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration as SageMaker reads ExpireAfter: "P30D", "PT1H", also "30d" or "T16m".

    Years count 365 days and months 30: the cache window is approximate by nature.
    """
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groupdict().values()):
        raise PolicyError(f"ExpireAfter {text[:40]!r} is not an ISO 8601 duration such as 'P30D' or 'PT1H'")
    parts = {unit: int(value) for unit, value in match.groupdict().items() if value}
    days = sum(parts.get(unit, 0) * factor for unit, factor in _UNIT_DAYS.items())
    seconds = sum(parts.get(unit, 0) * factor for unit, factor in _UNIT_SECONDS.items())
    return timedelta(days=days, seconds=seconds)


# ------------------------------------------------------------------------------------ caching
@dataclass(frozen=True)
class CachePolicy:
    enabled: bool
    expire_after: timedelta | None
    """None: an earlier run never gets too old."""


def parse_cache_config(step_type: str, raw: Any) -> CachePolicy | None:
    """The step's policy, checked; None when caching is off or the step type is never cached."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PolicyError("CacheConfig must be an object")
    unknown = set(raw) - {"Enabled", "ExpireAfter"}
    if unknown:
        raise PolicyError(f"CacheConfig has unknown keys {sorted(unknown)}")
    enabled = raw.get("Enabled", False)
    if not isinstance(enabled, bool):
        raise PolicyError("CacheConfig.Enabled must be true or false")
    expire = raw.get("ExpireAfter")
    if expire is not None and not isinstance(expire, str):
        raise PolicyError("CacheConfig.ExpireAfter must be a string (an ISO 8601 duration)")
    duration = parse_duration(expire) if expire is not None else None
    # Other step types run every time, as on AWS (Tuning, AutoML, checks: steps localcloud does not run).
    return CachePolicy(enabled, duration) if enabled and step_type in CACHE_KEYS else None


def cache_key(step_type: str, request: dict[str, Any]) -> str:
    """A digest of the step's resolved cache-key attributes (absent and null are the same)."""
    attributes = {name: request.get(name) for name in CACHE_KEYS[step_type]}
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedRun:
    """A successful run of a step, reusable by a later execution."""

    execution_arn: str
    ended: datetime
    metadata: dict[str, Any]
    properties: dict[str, Any]


class StepCache:
    """Successful cacheable step runs by (pipeline ARN, step name, cache key); the newest wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str, str], CachedRun] = {}

    def find(self, pipeline_arn: str, step: str, key: str, policy: CachePolicy, now: datetime) -> CachedRun | None:
        with self._lock:
            run = self._runs.get((pipeline_arn, step, key))
        if run is None or (policy.expire_after is not None and now - run.ended > policy.expire_after):
            return None
        return run

    def remember(self, pipeline_arn: str, step: str, key: str, run: CachedRun) -> None:
        with self._lock:
            self._runs[(pipeline_arn, step, key)] = run

    def forget_pipeline(self, pipeline_arn: str) -> None:
        """DeletePipeline: its runs can no longer be reused (a new pipeline of the same name starts cold)."""
        with self._lock:
            for entry in [entry for entry in self._runs if entry[0] == pipeline_arn]:
                del self._runs[entry]

    def __getstate__(self) -> dict[str, Any]:
        return {"runs": dict(self._runs)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._runs = state["runs"]


# ------------------------------------------------------------------------------------ retries
@dataclass(frozen=True)
class RetryPolicy:
    exception_types: frozenset[str]
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = None
    expire_after_min: int | None = None

    def delay(self, retries_so_far: int) -> float:
        """Seconds to wait before the next retry, given how many this policy has made."""
        return float(self.interval_seconds * self.backoff_rate**retries_so_far)

    def allows(self, retries_so_far: int, minutes_since_first: float) -> bool:
        if self.max_attempts is not None:
            return retries_so_far < self.max_attempts
        return self.expire_after_min is not None and minutes_since_first < self.expire_after_min


def _number(raw: dict[str, Any], key: str, where: str, *, integer: bool, low: float, high: float) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise PolicyError(f"{where}.{key} must be {kind} from {low:g} to {high:g}, got {value!r}"[:200])
    return value


def parse_retry_policies(step_type: str, raw: Any) -> tuple[RetryPolicy, ...]:
    """The step's policies, checked; empty for step types SageMaker never retries (Condition, Fail...)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise PolicyError("RetryPolicies must be a list of objects")
    policies = []
    for index, entry in enumerate(raw):
        where = f"RetryPolicies[{index}]"
        unknown = set(entry) - {"ExceptionType", "IntervalSeconds", "BackoffRate", "MaxAttempts", "ExpireAfterMin"}
        if unknown:
            raise PolicyError(f"{where} has unknown keys {sorted(unknown)}")
        types = entry.get("ExceptionType")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise PolicyError(f"{where}.ExceptionType must be a non-empty list of exception types")
        strange = [t for t in types if t not in EXCEPTION_TYPES]
        if strange:
            raise PolicyError(f"{where}.ExceptionType {strange[0][:60]!r} is not one of "
                              f"{', '.join(sorted(EXCEPTION_TYPES))}")
        interval = _number(entry, "IntervalSeconds", where, integer=True, low=1, high=MAX_INTERVAL_SECONDS)
        backoff = _number(entry, "BackoffRate", where, integer=False, low=0, high=1e6)
        attempts = _number(entry, "MaxAttempts", where, integer=True, low=1, high=MAX_ATTEMPTS)
        expire = _number(entry, "ExpireAfterMin", where, integer=True, low=0, high=MAX_EXPIRE_AFTER_MIN)
        if (attempts is None) == (expire is None):
            raise PolicyError(f"{where} needs exactly one of MaxAttempts and ExpireAfterMin")
        policies.append(RetryPolicy(frozenset(types), 1.0 if interval is None else interval,
                                    2.0 if backoff is None else backoff, attempts, expire))
    return tuple(policies) if step_type in RETRYABLE_STEPS else ()


def policy_for(policies: tuple[RetryPolicy, ...], exception_type: str | None) -> int | None:
    """The index of the first policy that retries `exception_type` (None: the failure is final)."""
    if exception_type is None:
        return None
    return next((i for i, p in enumerate(policies) if exception_type in p.exception_types), None)
