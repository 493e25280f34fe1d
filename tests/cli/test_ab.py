"""The A/B significance test: the pooled two-proportion z-test's p-values."""

from __future__ import annotations

import pytest

from sagestack.ab import VariantFigures, error_rate_p_value


@pytest.mark.parametrize(("a", "b", "expected"), [
    ((10, 1000), (10, 1000), 1.0),           # identical rates
    ((0, 500), (0, 500), 1.0),               # no errors anywhere: no evidence
    ((20, 1000), (40, 1000), 0.008751),      # z = 2.6216 (scipy.stats.norm.sf gives the same)
    ((5, 100), (9, 100), 0.26763),           # z = 1.1085: could be chance
    ((0, 40), (40, 40), 3.7441e-19),         # z = 8.9443: a challenger failing every request
])
def test_p_values_match_the_z_test(a: tuple[int, int], b: tuple[int, int], expected: float) -> None:
    assert error_rate_p_value(a[0], a[1], b[0], b[1]) == pytest.approx(expected, rel=1e-3)


def test_no_traffic_on_a_side_gives_no_answer_and_rates_are_none() -> None:
    assert error_rate_p_value(0, 0, 1, 10) is None
    assert VariantFigures("A", 0, 0, None).error_rate is None
    assert VariantFigures("B", 40, 10, 1200.0).error_rate == 0.25
