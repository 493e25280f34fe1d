"""`sagestack alerts`: the stack's alert inbox (its SNS topic's queue), read through the AWS API."""

from __future__ import annotations

import contextlib
import json
import uuid

from botocore.exceptions import ClientError
from cli_support import Stack, invoke
from support import LocalCloud, wait_until


def _read(stack: Stack, *flags: str) -> str:
    result = invoke([*stack.options, "alerts", *flags])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_alarm_that_fires_reaches_the_inbox(localcloud: LocalCloud, stack: Stack) -> None:
    cw = localcloud.client("cloudwatch")
    alarm = next(a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-5xx"))
    reason = f"a test pages someone {uuid.uuid4().hex[:6]}"
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason=reason)
    collected: list[str] = []

    def arrived() -> bool:
        collected.append(_read(stack))  # each read acknowledges what it showed: keep every output
        return any(reason in text for text in collected)

    assert wait_until(arrived, 20, 0.2), collected
    line = next(line for text in collected for line in text.splitlines() if reason in line)
    assert f"ALARM {alarm}" in line and "(was " in line


def test_keep_leaves_alerts_for_the_next_reader(localcloud: LocalCloud, stack: Stack) -> None:
    note = f"maintenance window {uuid.uuid4().hex[:6]}"
    localcloud.client("sns").publish(TopicArn=stack["AlertTopicArn"], Message=note)
    first = wait_until(lambda: (lambda text: text if note in text else None)(_read(stack, "--keep")), 20, 0.2)
    assert first, "the published note never reached the inbox"
    assert note in _read(stack)  # kept: shown again, and acknowledged now
    assert note not in _read(stack)


def test_a_drift_alarm_starts_one_retraining_run_and_decay_in_the_same_spell_no_second(localcloud: LocalCloud,
                                                                                      stack: Stack) -> None:
    """The stack's rule: drift or decay (a composite alarm) entering ALARM starts the pipeline (EventBridge's
    pipeline target); the decay alarm firing while drift is still in ALARM starts nothing more."""
    cw, sm = localcloud.client("cloudwatch"), localcloud.client("sagemaker")
    drift = next(a for a in cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-data-drift"))
    pipeline = stack["PipelineName"]
    before = {e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
        PipelineName=pipeline)["PipelineExecutionSummaries"]}
    cw.set_alarm_state(AlarmName=drift["AlarmName"], StateValue="ALARM", StateReason="feature drift (test)")

    def started() -> list[str]:
        return [e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
            PipelineName=pipeline)["PipelineExecutionSummaries"] if e["PipelineExecutionArn"] not in before]

    assert wait_until(started, 20, 0.2), "no retraining run started"
    arn = started()[0]
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert "aws.cloudwatch" in described.get("PipelineExecutionDescription", "")
    parameters = {p["Name"]: p["Value"] for p in sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]}
    assert parameters["ModelApprovalStatus"] == "PendingManualApproval"  # a retrained model still waits for a person
    with contextlib.suppress(ClientError):  # it may have ended already: this session's bucket holds no input data
        sm.stop_pipeline_execution(PipelineExecutionArn=arn)

    quality = next(a for a in cw.describe_alarms()["MetricAlarms"] if a["AlarmName"].endswith("-model-quality-rmse"))
    cw.set_alarm_state(AlarmName=quality["AlarmName"], StateValue="ALARM", StateReason="model decay (test)")
    [composite] = cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert composite["StateValue"] == "ALARM"
    # the composite changes state (and so emits the event the rule matches) once, on the drift alarm
    changes = cw.describe_alarm_history(AlarmName=composite["AlarmName"], HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"]
    assert [json.loads(c["HistoryData"])["newState"]["stateValue"] for c in changes].count("ALARM") == 1
    for alarm in (drift, quality):
        cw.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue="OK", StateReason="test over")
