"""Alarm evaluation as CloudWatch documents it: missing data, M of N, statistics, metric math, reasons.

The two tables of "Configuring how CloudWatch alarms treat missing data" (3 of 3 and 2 of 3, an
evaluation range of 5 periods) are checked row by row, for every TreatMissingData value.
"""

from __future__ import annotations

import math

import pytest

from localcloud.cloudwatch.evaluation import ALARM, INSUFFICIENT, OK, Datapoint, Settings, evaluate, extra_periods
from localcloud.cloudwatch.metric_math import MetricMathError, evaluate_expression
from localcloud.cloudwatch.statistics import Period, StatisticError, compute, parse_extended

P = 60.0
END = 1_800_000_000.0  # a period boundary (divisible by 60)
RETAIN = None


def _points(row: str) -> list[Datapoint]:
    """'0 - X - X' (oldest first, newest last) -> datapoints: X breaches a threshold of 1, 0 does not."""
    marks = row.split()
    points = []
    for i, mark in enumerate(marks):
        start = END - (len(marks) - i) * P
        if mark != "-":
            points.append(Datapoint(start, 5.0 if mark == "X" else 0.0, 1.0))
    return points


def _evaluate(row: str, m: int, treat: str) -> str | None:
    settings = Settings(3, m, 1.0, "GreaterThanThreshold", treat, 60, "Average")
    outcome = evaluate(settings, _points(row), END, P, END + 1)
    return outcome.state if outcome else None


TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@pytest.mark.parametrize(("row", "expected"), [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, RETAIN, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - X - -", (ALARM, RETAIN, ALARM, OK)),
])
def test_the_documented_3_of_3_table(row: str, expected: tuple[str | None, ...]) -> None:
    assert tuple(_evaluate(row, 3, treat) for treat in TREATMENTS) == expected


@pytest.mark.parametrize(("row", "expected"), [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - X -", (ALARM, RETAIN, ALARM, OK)),
])
def test_the_documented_2_of_3_table(row: str, expected: tuple[str | None, ...]) -> None:
    assert tuple(_evaluate(row, 2, treat) for treat in TREATMENTS) == expected


@pytest.mark.parametrize("row", ["- - - - X", "- - - X -"])
def test_a_fresh_breach_is_not_a_premature_alarm(row: str) -> None:
    """3 of 3: one breaching datapoint younger than 3 periods waits for the next ones."""
    assert _evaluate(row, 3, "missing") is RETAIN


def test_the_evaluation_range_of_the_documented_case() -> None:
    assert 3 + extra_periods(3) == 5


@pytest.mark.parametrize(("operator", "value", "expected"), [
    ("GreaterThanThreshold", 1.0, OK), ("GreaterThanThreshold", 1.5, ALARM),
    ("GreaterThanOrEqualToThreshold", 1.0, ALARM), ("GreaterThanOrEqualToThreshold", 0.5, OK),
    ("LessThanThreshold", 1.0, OK), ("LessThanThreshold", 0.5, ALARM),
    ("LessThanOrEqualToThreshold", 1.0, ALARM), ("LessThanOrEqualToThreshold", 1.5, OK),
])
def test_every_comparison_operator(operator: str, value: float, expected: str) -> None:
    settings = Settings(1, None, 1.0, operator, "missing", 60, "Maximum")
    outcome = evaluate(settings, [Datapoint(END - P, value, 1.0)], END, P, END)
    assert outcome is not None and outcome.state == expected


def test_reasons_read_as_cloudwatch_writes_them() -> None:
    one = Settings(1, None, 500000.0, "GreaterThanThreshold", "missing", 10, "p99", unit="Microseconds")
    outcome = evaluate(one, [Datapoint(1_785_000_000.0, 900000.0, 100.0)], 1_785_000_010.0, 10.0, 1_785_000_011.0)
    assert outcome is not None
    assert outcome.reason == ("Threshold Crossed: 1 datapoint [900000.0 (25/07/26 17:20:00)] was greater than the "
                              "threshold (500000.0).")
    assert list(outcome.reason_data) == ["version", "queryDate", "startDate", "unit", "statistic", "period",
                                         "recentDatapoints", "threshold", "evaluatedDatapoints"]
    assert outcome.reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2026-07-25T17:20:00.000+0000", "sampleCount": 100.0, "value": 900000.0}]

    m_of_n = Settings(3, 2, 1.0, "GreaterThanThreshold", "notBreaching", 60, "Sum")
    alarm = evaluate(m_of_n, _points("0 - X - X"), END, P, END)
    assert alarm is not None and alarm.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [5.0 (")
    assert alarm.reason.endswith("] were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM "
                                 "transition).")
    ok = evaluate(m_of_n, _points("- - - - 0"), END, P, END)
    assert ok is not None and ok.reason.endswith(
        "was not greater than the threshold (1.0) and 2 missing datapoints were treated as [NonBreaching] "
        "(minimum 2 datapoints for ALARM -> OK transition).")

    nothing = Settings(2, None, 1.0, "GreaterThanThreshold", "breaching", 60, "Sum")
    assert evaluate(nothing, [], END, P, END).reason == (  # type: ignore[union-attr]
        "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as "
        "[Breaching].")
    unknown = Settings(1, None, 1.0, "GreaterThanThreshold", "missing", 60, "Sum")
    assert evaluate(unknown, [], END, P, END).reason == "Insufficient Data: 1 datapoint was unknown."  # type: ignore[union-attr]


def test_percentiles_with_too_few_samples_can_keep_the_state() -> None:
    settings = Settings(1, None, 1.0, "GreaterThanThreshold", "missing", 60, "p99", low_sample_count_limit=1000.0)
    assert evaluate(settings, [Datapoint(END - P, 5.0, 999.0)], END, P, END) is None
    assert evaluate(settings, [Datapoint(END - P, 5.0, 1000.0)], END, P, END).state == ALARM  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------- statistics
VALUES = [float(v) for v in range(1, 101)]  # 1..100


@pytest.mark.parametrize(("statistic", "extended", "expected"), [
    ("SampleCount", None, 100.0), ("Sum", None, 5050.0), ("Average", None, 50.5), ("Minimum", None, 1.0),
    ("Maximum", None, 100.0),
    (None, "p99", 99.0), (None, "p50", 50.0), (None, "p100", 100.0), (None, "p0.5", 1.0),
    (None, "tm90", 45.5),  # mean of 1..90
    (None, "TM(10%:90%)", 50.5),  # mean of 11..90
    (None, "IQM", 50.5),  # mean of 26..75
    (None, "wm90", (math.fsum(range(1, 91)) + 10 * 90) / 100),
    (None, "tc90", 90.0), (None, "ts90", math.fsum(range(1, 91))),
    (None, "PR(:25)", 25.0), (None, "TC(10:20)", 10.0),  # values in (10, 20]
])
def test_statistics(statistic: str | None, extended: str | None, expected: float) -> None:
    assert compute(Period(list(VALUES), []), statistic, extended) == pytest.approx(expected)


def test_statistic_sets_count_for_simple_statistics_only() -> None:
    period = Period([4.0], [(3.0, 6.0, 1.0, 3.0)])  # three more samples: sum 6, min 1, max 3
    assert (compute(period, "SampleCount", None), compute(period, "Sum", None), compute(period, "Average", None),
            compute(period, "Minimum", None), compute(period, "Maximum", None)) == (4.0, 10.0, 2.5, 1.0, 4.0)
    assert compute(Period([], [(3.0, 6.0, 1.0, 3.0)]), None, "p99") is None  # percentiles need raw values
    assert compute(Period([], []), "Sum", None) is None


@pytest.mark.parametrize("bad", ["p101", "median", "TM(10%:90)", "PR(10%:90%)", "q99"])
def test_unknown_statistics_are_refused_with_the_list(bad: str) -> None:
    with pytest.raises(StatisticError):
        parse_extended(bad)


# ------------------------------------------------------------------------------------------- metric math
def test_metric_math_combines_series_per_period() -> None:
    errors, requests = {0.0: 2.0, 60.0: 0.0, 120.0: 5.0}, {0.0: 100.0, 60.0: 50.0, 120.0: 0.0}
    inputs = {"e": errors, "r": requests}
    assert evaluate_expression("rate", {"rate": "100 * e / r"}, inputs) == {0.0: 2.0, 60.0: 0.0}  # 5/0: no point
    assert evaluate_expression("x", {"x": "IF(e > 1, e, 0) + ABS(-r)"}, inputs) == {0.0: 102.0, 60.0: 50.0,
                                                                                   120.0: 5.0}
    assert evaluate_expression("s", {"s": "SUM(e, r)"}, inputs) == {0.0: 102.0, 60.0: 50.0, 120.0: 5.0}
    assert evaluate_expression("m", {"m": "MAX([e, r])"}, inputs) == {0.0: 100.0, 60.0: 50.0, 120.0: 5.0}
    assert evaluate_expression("f", {"f": "FILL(g, 0)", "g": "e * 2"}, {"e": {0.0: 1.0}, "r": requests}) == {
        0.0: 2.0, 60.0: 0.0, 120.0: 0.0}


@pytest.mark.parametrize(("expressions", "message"), [
    ({"x": "nope * 2"}, "not a query of this alarm"),
    ({"x": "__import__('os')"}, "unsupported"),
    ({"x": "e.real"}, "unsupported"),
    ({"x": "x + 1"}, "refers to itself"),
    ({"x": "1 +"}, "not a valid expression"),
    ({"x": "2 * 3"}, "constant"),
])
def test_bad_metric_math_is_an_error_not_an_evaluation(expressions: dict[str, str], message: str) -> None:
    with pytest.raises(MetricMathError, match=message):
        evaluate_expression("x", expressions, {"e": {0.0: 1.0}})


# ------------------------------------------------------------------------------------------- composite alarms
@pytest.mark.parametrize(("rule", "expected"), [
    ('ALARM("a")', True), ("ALARM(a)", True), ("OK(b)", True), ("INSUFFICIENT_DATA(c)", True),
    ('ALARM("a") AND OK("b")', True), ("ALARM(a) AND ALARM(b)", False), ("ALARM(b) OR ALARM(a)", True),
    ("NOT ALARM(b)", True), ("NOT ALARM(a) OR ALARM(b) AND TRUE", False),  # NOT > AND > OR
    ("(ALARM(a) OR ALARM(b)) AND NOT (OK(b) AND FALSE)", True),
    ('ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a")', True), ("ALARM(missing)", False),
])
def test_composite_rules(rule: str, expected: bool) -> None:
    from localcloud.cloudwatch.composite import evaluate_rule

    states = {"a": "ALARM", "b": "OK", "c": "INSUFFICIENT_DATA"}
    assert evaluate_rule(rule, states.get) is expected


@pytest.mark.parametrize("rule", ["", "ALARM(a) AND", "ALARM(a) ALARM(b)", "(ALARM(a)", "MAYBE(a)",
                                  "ALARM(a) XOR OK(b)"])
def test_bad_composite_rules_are_refused(rule: str) -> None:
    from localcloud.cloudwatch.composite import RuleError, evaluate_rule

    with pytest.raises(RuleError):
        evaluate_rule(rule, lambda _name: "OK")
