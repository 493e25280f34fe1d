"""CloudWatch alarms evaluate themselves in localcloud, through AWS's API only, on the fast clock.

A server started with `--time-scale 30` lasts a 60-second period two real seconds, so these
alarms (as a CDK app would declare them) change state in seconds. Datapoints are put with
timestamps in periods that have already ended, so what each evaluation sees is fixed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support import LocalCloud, wait_until

from localcloud.server import parse_args

NS = "Tests/Alarms"
PERIOD = 60  # AWS seconds
SCALE = 30
LENGTH = PERIOD / SCALE  # real seconds


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud.start(tmp_path_factory.mktemp("alarms"), args=["--time-scale", str(SCALE)]) as cloud:
        cw = cloud.client("cloudwatch")  # the first calls load CloudWatch's API model: not inside a period
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Warm", "Value": 0.0}])
        cw.put_metric_alarm(AlarmName="warm", Namespace=NS, MetricName="Warm", Statistic="Sum", Period=PERIOD,
                            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
        cw.delete_alarms(AlarmNames=["warm"])
        cloud.client("sns").list_topics()
        cloud.client("sqs").list_queues()
        cloud.client("events").list_rules()
        yield cloud


@pytest.fixture
def inbox(fast: LocalCloud) -> dict[str, Any]:
    """A topic delivered to a queue, and an EventBridge rule for alarm events delivered to another queue."""
    sns, sqs, events = (fast.client(n) for n in ("sns", "sqs", "events"))
    tag = uuid.uuid4().hex[:8]
    topic = sns.create_topic(Name=f"alerts-{tag}")["TopicArn"]
    queues = {}
    for kind in ("alerts", "events"):
        url = sqs.create_queue(QueueName=f"{kind}-{tag}")["QueueUrl"]
        queues[kind] = (url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues["alerts"][1])
    events.put_rule(Name=f"alarms-{tag}", EventPattern=json.dumps(
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}))
    events.put_targets(Rule=f"alarms-{tag}", Targets=[{"Id": "q", "Arn": queues["events"][1]}])
    return {"tag": tag, "topic": topic, "alerts": queues["alerts"][0], "events": queues["events"][0],
            "received": {"alerts": [], "events": []}}


def _drain(fast: LocalCloud, inbox: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    sqs = fast.client("sqs")
    while True:
        got = sqs.receive_message(QueueUrl=inbox[kind], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return list(inbox["received"][kind])
        for message in got:
            body = json.loads(message["Body"])
            inbox["received"][kind].append(json.loads(body["Message"]) | {"Subject": body.get("Subject")}
                                           if kind == "alerts" else body)
            sqs.delete_message(QueueUrl=inbox[kind], ReceiptHandle=message["ReceiptHandle"])


def _state(fast: LocalCloud, name: str) -> str:
    return str(fast.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def _wait_state(fast: LocalCloud, name: str, state: str, timeout: float = 30) -> None:
    assert wait_until(lambda: _state(fast, name) == state, timeout, 0.1), f"{name} is {_state(fast, name)}"


def _put(fast: LocalCloud, metric: str, values_by_periods_ago: dict[int, list[float]],
         dimensions: list[dict[str, str]] | None = None) -> None:
    """Datapoints in the periods that ended 1, 2, ... periods ago (on the fast clock)."""
    now = time.time()
    period_start = now - now % LENGTH
    data = [{"MetricName": metric, "Value": value, "Dimensions": dimensions or [],
             "Timestamp": period_start - (ago - 0.5) * LENGTH}
            for ago, values in values_by_periods_ago.items() for value in values]
    fast.client("cloudwatch").put_metric_data(Namespace=NS, MetricData=data)


def test_an_m_of_n_alarm_alerts_by_sns_and_eventbridge_and_keeps_history(fast: LocalCloud,
                                                                          inbox: dict[str, Any]) -> None:
    cw, name = fast.client("cloudwatch"), f"errors-{inbox['tag']}"
    dims = [{"Name": "EndpointName", "Value": inbox["tag"]}]
    _put(fast, "Errors", {1: [4, 4], 2: [1], 3: [9]}, dims)  # sums 9, 1, 8 (oldest first): 2 of 3 breach
    cw.put_metric_alarm(AlarmName=name, AlarmDescription="too many errors", Namespace=NS,
                        MetricName="Errors", Dimensions=dims, Statistic="Sum", Period=PERIOD, EvaluationPeriods=3,
                        DatapointsToAlarm=2, Threshold=5, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[inbox["topic"]], OKActions=[inbox["topic"]])
    assert _state(fast, name) == "INSUFFICIENT_DATA"
    _wait_state(fast, name, "ALARM")

    assert wait_until(lambda: [m for m in _drain(fast, inbox, "alerts") if m["AlarmName"] == name], 10)
    message = next(m for m in _drain(fast, inbox, "alerts") if m["AlarmName"] == name)
    assert message["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    assert (message["NewStateValue"], message["OldStateValue"], message["AlarmDescription"]) == (
        "ALARM", "INSUFFICIENT_DATA", "too many errors")
    assert message["NewStateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints [")
    assert message["Trigger"] == {
        "MetricName": "Errors", "Namespace": NS, "StatisticType": "Statistic", "Statistic": "SUM", "Unit": None,
        "Dimensions": [{"value": inbox["tag"], "name": "EndpointName"}], "Period": 60, "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 5.0,
        "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": ""}

    assert wait_until(lambda: _drain(fast, inbox, "events"), 10)
    event = _drain(fast, inbox, "events")[0]
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "aws.cloudwatch", "CloudWatch Alarm State Change", [message["AlarmArn"]])
    assert (event["detail"]["state"]["value"], event["detail"]["previousState"]["value"]) == (
        "ALARM", "INSUFFICIENT_DATA")
    assert event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] == {
        "namespace": NS, "name": "Errors", "dimensions": {"EndpointName": inbox["tag"]}}

    # no more errors: the breaching periods leave the range, missing data counts as good
    _wait_state(fast, name, "OK")
    history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    summaries = [h["HistorySummary"] for h in history]
    assert summaries[:1] == [f"Successfully executed action {inbox['topic']}"]
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in summaries
    assert "Alarm updated from ALARM to OK" in summaries
    assert summaries[-1] == f'Alarm "{name}" created'
    state_updates = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate",
                                              ScanBy="TimestampAscending")["AlarmHistoryItems"]
    data = json.loads(state_updates[0]["HistoryData"])
    assert (data["oldState"]["stateValue"], data["newState"]["stateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert data["newState"]["stateReasonData"]["recentDatapoints"][-2:] == [1.0, 8.0]


def test_missing_data_modes_and_disabled_actions(fast: LocalCloud, inbox: dict[str, Any]) -> None:
    cw, tag = fast.client("cloudwatch"), inbox["tag"]
    common = dict(Namespace=NS, MetricName=f"Never-{tag}", Statistic="Sum", Period=PERIOD, EvaluationPeriods=1,
                  Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[inbox["topic"]])
    for treat in ("breaching", "notBreaching", "missing", "ignore"):
        cw.put_metric_alarm(AlarmName=f"{treat}-{tag}", TreatMissingData=treat, **common)
    cw.put_metric_alarm(AlarmName=f"silent-{tag}", TreatMissingData="breaching", ActionsEnabled=False, **common)
    _wait_state(fast, f"breaching-{tag}", "ALARM")
    _wait_state(fast, f"notBreaching-{tag}", "OK")
    _wait_state(fast, f"silent-{tag}", "ALARM")
    # evaluated together with the others, these two did not move
    assert (_state(fast, f"missing-{tag}"), _state(fast, f"ignore-{tag}")) == ("INSUFFICIENT_DATA",
                                                                               "INSUFFICIENT_DATA")
    assert wait_until(lambda: len(_drain(fast, inbox, "events")) >= 3, 10)
    alerted = {m["AlarmName"] for m in _drain(fast, inbox, "alerts")}
    evented = {e["detail"]["alarmName"] for e in _drain(fast, inbox, "events")}
    assert alerted == {f"breaching-{tag}"}  # OK has no action here; silent has its actions disabled
    assert evented == {f"breaching-{tag}", f"notBreaching-{tag}", f"silent-{tag}"}
    reason = cw.describe_alarms(AlarmNames=[f"breaching-{tag}"])["MetricAlarms"][0]["StateReason"]
    assert reason == ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was "
                      "treated as [Breaching].")


def test_set_alarm_state_acts_and_the_next_evaluation_corrects_it(fast: LocalCloud, inbox: dict[str, Any]) -> None:
    cw, name = fast.client("cloudwatch"), f"manual-{inbox['tag']}"
    cw.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=f"Quiet-{inbox['tag']}", Statistic="Sum",
                        Period=PERIOD, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[inbox["topic"]])
    _wait_state(fast, name, "OK")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the pager")
    assert wait_until(lambda: [m for m in _drain(fast, inbox, "alerts") if m["NewStateReason"] == "testing the pager"],
                      10)
    _wait_state(fast, name, "OK")
    with pytest.raises(ClientError) as bad:
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="x", StateReasonData="{not json")
    assert bad.value.response["Error"]["Code"] == "InvalidFormat"


def test_percentiles_metric_math_and_updates(fast: LocalCloud, inbox: dict[str, Any]) -> None:
    cw, tag = fast.client("cloudwatch"), inbox["tag"]
    _put(fast, f"Latency-{tag}", {1: [10.0] * 80 + [500.0] * 20})  # p90 = 500
    _put(fast, f"Errors-{tag}", {1: [3.0]})
    _put(fast, f"Requests-{tag}", {1: [20.0]})  # 15 %
    cw.put_metric_alarm(AlarmName=f"p90-{tag}", Namespace=NS, MetricName=f"Latency-{tag}", ExtendedStatistic="p90",
                        Period=PERIOD, EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_alarm(
        AlarmName=f"rate-{tag}", EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "rate", "Expression": "100 * e / r", "Label": "error %", "ReturnData": True},
                 *({"Id": i, "ReturnData": False, "MetricStat": {
                     "Metric": {"Namespace": NS, "MetricName": f"{m}-{tag}"}, "Period": PERIOD, "Stat": "Sum"}}
                   for i, m in (("e", "Errors"), ("r", "Requests")))])
    _wait_state(fast, f"p90-{tag}", "ALARM")
    _wait_state(fast, f"rate-{tag}", "ALARM")
    # an update changes the configuration, not the state
    cw.put_metric_alarm(AlarmName=f"p90-{tag}", Namespace=NS, MetricName=f"Latency-{tag}", ExtendedStatistic="p90",
                        Period=PERIOD, EvaluationPeriods=1, Threshold=1000, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    assert _state(fast, f"p90-{tag}") == "ALARM"
    summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(
        AlarmName=f"p90-{tag}", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]]
    assert summaries == [f'Alarm "p90-{tag}" updated', f'Alarm "p90-{tag}" created']


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"ExtendedStatistic": "p101"}, "InvalidParameterValue", "p101"),
    ({"Statistic": "Sum", "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}, "ValidationError",
     "anomaly detection"),
])
def test_alarms_localcloud_cannot_evaluate_are_refused(fast: LocalCloud, change: dict[str, Any], code: str,
                                                       words: str) -> None:
    request = {"AlarmName": "bad", "Namespace": NS, "MetricName": "M", "Period": PERIOD, "EvaluationPeriods": 1,
               "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold", **change}
    with pytest.raises(ClientError) as refused:
        fast.client("cloudwatch").put_metric_alarm(**request)
    assert refused.value.response["Error"]["Code"] == code
    assert words in refused.value.response["Error"]["Message"]


def test_a_broken_expression_makes_the_alarm_insufficient_data_with_the_reason(fast: LocalCloud,
                                                                              inbox: dict[str, Any]) -> None:
    cw, name = fast.client("cloudwatch"), f"broken-{inbox['tag']}"
    cw.put_metric_alarm(AlarmName=name, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        Metrics=[{"Id": "x", "Expression": "nope * 2", "ReturnData": True},
                                 {"Id": "m", "ReturnData": False, "MetricStat": {
                                     "Metric": {"Namespace": NS, "MetricName": "M"}, "Period": PERIOD,
                                     "Stat": "Sum"}}])
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="start from OK")
    _wait_state(fast, name, "INSUFFICIENT_DATA")
    reason = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateReason"]
    assert reason == "Unchecked: the expression names nope, which is not a query of this alarm"


def test_the_time_scale_is_checked() -> None:
    assert parse_args(["--time-scale", "60"]).time_scale == 60
    for bad in ("0", "0.5", "100000"):
        with pytest.raises(SystemExit):
            parse_args(["--time-scale", bad])
    parse_args([])  # back to real time in this process


def test_a_composite_alarm_follows_its_children(fast: LocalCloud, inbox: dict[str, Any]) -> None:
    cw, tag = fast.client("cloudwatch"), inbox["tag"]
    for child in ("errors", "latency"):
        cw.put_metric_alarm(AlarmName=f"{child}-{tag}", Namespace=NS, MetricName=f"Quiet-{tag}", Statistic="Sum",
                            Period=PERIOD, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    name = f"page-{tag}"
    cw.put_composite_alarm(AlarmName=name, AlarmRule=f'ALARM("errors-{tag}") AND NOT ALARM("latency-{tag}")',
                           AlarmActions=[inbox["topic"]])
    composite = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert composite["StateValue"] == "OK"  # created: the rule does not hold
    assert composite["StateReason"].endswith("was created and its alarm rule evaluates to OK")
    cw.set_alarm_state(AlarmName=f"errors-{tag}", StateValue="ALARM", StateReason="errors (test)")
    composite = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert composite["StateValue"] == "ALARM"
    assert composite["StateReason"].startswith(f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors-{tag} "
                                               f"transitioned to ALARM at ")
    assert wait_until(lambda: [m for m in _drain(fast, inbox, "alerts") if m["AlarmName"] == name], 10)
    message = next(m for m in _drain(fast, inbox, "alerts") if m["AlarmName"] == name)
    assert message["AlarmRule"] == f'ALARM("errors-{tag}") AND NOT ALARM("latency-{tag}")'
    assert "Trigger" not in message and message["TriggeringChildren"][0]["State"]["Value"] == "ALARM"
    with pytest.raises(ClientError) as refused:
        cw.put_composite_alarm(AlarmName=f"bad-{tag}", AlarmRule="ALARM(x) AND")
    assert "AlarmRule ends too early" in refused.value.response["Error"]["Message"]


def test_get_metric_data_reads_distributions_and_statistic_sets_by_exact_dimensions(fast: LocalCloud) -> None:
    """Latency sent as Values/Counts (as localcloud's endpoints send it) answers percentiles; a metric's
    dimensions are part of its identity, so a query for one set never sees another's data."""
    cw = fast.client("cloudwatch")
    now = datetime.now(UTC).replace(microsecond=0)
    one = [{"Name": "Endpoint", "Value": "e"}]
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Latency", "Dimensions": one, "Timestamp": now, "Values": [10.0, 20.0, 900.0],
         "Counts": [50, 45, 5], "Unit": "Microseconds"},
        {"MetricName": "Latency", "Dimensions": [*one, {"Name": "Config", "Value": "c"}], "Timestamp": now,
         "StatisticValues": {"SampleCount": 2, "Sum": 4000.0, "Minimum": 2000.0, "Maximum": 2000.0},
         "Unit": "Microseconds"}])

    def query(stat: str, dims: list[dict[str, str]]) -> list[float]:
        found = cw.get_metric_data(StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5),
                                   MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
                                       "Namespace": NS, "MetricName": "Latency", "Dimensions": dims},
                                       "Period": 600, "Stat": stat}}])
        return found["MetricDataResults"][0]["Values"]

    assert query("SampleCount", one) == [100.0]
    assert query("p50", one) == [10.0] and query("p99", one) == [900.0]
    assert query("Average", one) == [pytest.approx((500 + 900 + 4500) / 100)]
    assert query("Maximum", [*one, {"Name": "Config", "Value": "c"}]) == [2000.0]
    assert query("p99", [*one, {"Name": "Config", "Value": "c"}]) == []  # sums and counts have no percentiles
