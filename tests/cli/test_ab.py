"""The A/B significance tests: the pooled two-proportion z-test's p-values, Welch's test on accuracy, and
how captured answers and labels are read."""

from __future__ import annotations

import base64
import math

import pytest

from sagestack import variant_quality
from sagestack.ab import Accuracy, VariantFigures, accuracy_p_value, error_rate_p_value


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


def test_accuracy_is_compared_on_absolute_errors_with_welchs_test() -> None:
    close, far = Accuracy([0.1, -0.2, 0.15, -0.05, 0.1]), Accuracy([1.0, -1.2, 0.9, 1.1, -0.8])
    assert close.mae == pytest.approx(0.12) and far.rmse == pytest.approx(math.sqrt(5.1 / 5))
    p = accuracy_p_value(close, far)
    assert p is not None and p < 0.001
    assert accuracy_p_value(close, Accuracy([0.3])) is None  # one label: no variance to test with
    assert accuracy_p_value(Accuracy([1.0, -1.0]), Accuracy([-1.0, 1.0])) == 1.0  # the same errors, no spread


@pytest.mark.parametrize(("field", "value"), [
    ({"data": "12.5", "encoding": "CSV"}, 12.5),
    ({"data": "12.5,3\n", "encoding": "CSV"}, 12.5),
    ({"data": "[7.25, 1]", "encoding": "JSON"}, 7.25),
    ({"data": '{"predictions": [3.5]}', "encoding": "JSON"}, 3.5),
    ({"data": base64.b64encode(b"[4.0]").decode(), "encoding": "BASE64"}, 4.0),
    ({"data": "not a number", "encoding": "CSV"}, None),
    (None, None),
])
def test_captured_answers_and_labels_read_as_numbers(field: dict | None, value: float | None) -> None:
    assert variant_quality._number(field) == value
