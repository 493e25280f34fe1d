"""Comparing two production variants of an endpoint: are their error rates, or their accuracy, really different?

An A/B split sends part of the traffic to a challenger. Its error rate will differ from the
champion's by chance alone; the two-proportion z-test (pooled) says how likely a difference at
least this large would be if both had the same rate. Invocations and errors come from CloudWatch
(`AWS/SageMaker`, per `EndpointName` and `VariantName`), so this works on AWS as it does locally.
Where ground truth exists, the variants' absolute prediction errors are compared with Welch's
t-test (scipy's): the two samples are different requests, of different sizes and spreads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

__all__ = ["Accuracy", "VariantFigures", "accuracy_p_value", "error_rate_p_value"]


@dataclass(frozen=True)
class VariantFigures:
    name: str
    invocations: float
    errors: float
    """Invocation5XXErrors plus Invocation4XXErrors."""
    latency_us: float | None
    """Average ModelLatency."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations else None


def error_rate_p_value(errors_a: float, total_a: float, errors_b: float, total_b: float) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when a side has no requests.

    Equal rates (including both 0 or both 1) give 1.0: no evidence of a difference.
    """
    if total_a <= 0 or total_b <= 0:
        return None
    pooled = (errors_a + errors_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    difference = errors_a / total_a - errors_b / total_b
    if spread == 0:  # both rates 0, or both 1
        return 1.0
    z = abs(difference) / spread
    return math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class Accuracy:
    """A variant's prediction errors (prediction - truth) on the requests that have ground truth."""

    errors: list[float]

    @property
    def mae(self) -> float | None:
        return sum(abs(e) for e in self.errors) / len(self.errors) if self.errors else None

    @property
    def rmse(self) -> float | None:
        return math.sqrt(sum(e * e for e in self.errors) / len(self.errors)) if self.errors else None


def accuracy_p_value(a: Accuracy, b: Accuracy) -> float | None:
    """Two-sided p-value of Welch's t-test on the absolute errors; None with fewer than two labels a side."""
    if len(a.errors) < 2 or len(b.errors) < 2:
        return None
    first, second = [abs(e) for e in a.errors], [abs(e) for e in b.errors]
    if len(set(first)) == 1 and len(set(second)) == 1:  # no spread: the t statistic is undefined
        return 1.0 if first[0] == second[0] else 0.0
    return float(stats.ttest_ind(first, second, equal_var=False).pvalue)
