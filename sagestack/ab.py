"""Comparing two production variants of an endpoint: are their error rates really different?

An A/B split sends part of the traffic to a challenger. Its error rate will differ from the
champion's by chance alone; the two-proportion z-test (pooled) says how likely a difference at
least this large would be if both had the same rate. Invocations and errors come from CloudWatch
(`AWS/SageMaker`, per `EndpointName` and `VariantName`), so this works on AWS as it does locally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["VariantFigures", "error_rate_p_value"]


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
