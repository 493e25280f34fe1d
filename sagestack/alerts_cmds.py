"""`sagestack alerts`: what the stack alerted about, read from its alert queue.

Every message published to the stack's alert topic (CloudWatch alarm state changes, the
EventBridge notifications it forwards) also lands in its SQS queue (infra/alerts.py), so the
queue is the stack's alert inbox for people and programs without a mailbox. Reading an alert
acknowledges it (removes it from the queue) unless `--keep`; the alarms' own record stays in
CloudWatch (`DescribeAlarmHistory`). `--follow` waits for new alerts until Ctrl-C.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from sagestack import render
from sagestack.context import App, pass_app


def _when(value: Any) -> str:
    """An event's time as `YYYY-MM-DD HH:MM:SS` (UTC), whether ISO 8601 text or epoch seconds."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "")[:19].replace("T", " ")


def describe(body: str) -> tuple[str, str, str]:
    """(when, what, details) of one alert message: an alarm notification, an event, or plain text."""
    try:
        message: Any = json.loads(body)
    except ValueError:
        return "", "message", body.strip()[:300]
    if isinstance(message, dict) and "AlarmName" in message and "NewStateValue" in message:
        state = str(message["NewStateValue"])
        colour = render.STATE_COLOURS.get(state, "white")
        return (str(message.get("StateChangeTime", ""))[:19].replace("T", " "),
                f"[{colour}]{state}[/] {message['AlarmName']}",
                f"(was {message.get('OldStateValue', '?')}) {message.get('NewStateReason', '')}")
    if isinstance(message, dict) and "detail-type" in message:
        detail = message.get("detail") or {}
        if message["detail-type"] == "SageMaker Model Package State Change":
            summary = (f"{detail.get('ModelPackageGroupName')} version {detail.get('ModelPackageVersion')}: "
                       f"{detail.get('ModelApprovalStatus')}")
        elif message["detail-type"] == "SageMaker Model Building Pipeline Execution Status Change":
            pipeline = str(detail.get("pipelineArn", "")).rsplit("/", 1)[-1]
            summary = (f"{pipeline}: {detail.get('previousPipelineExecutionStatus')} -> "
                       f"{detail.get('currentPipelineExecutionStatus')}")
        else:
            summary = json.dumps(detail)[:300]
        return _when(message.get("time")), str(message["detail-type"]), summary
    return "", "message", json.dumps(message)[:300]


def _receive(sqs: Any, url: str, wait: int) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                    VisibilityTimeout=30).get("Messages", []))


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new alerts until Ctrl-C.")
@click.option("--keep", is_flag=True, help="Leave the alerts in the queue (by default, reading acknowledges them).")
@pass_app
def alerts(app: App, follow: bool, keep: bool) -> None:
    """The stack's alerts: alarm state changes and notifications, oldest first."""
    url = app.settings.need("alert_queue_url")
    sqs = app.client("sqs")
    kept: list[str] = []  # receipt handles to make visible again at the end (--keep)
    shown = 0
    wait = 1  # a short first wait: an alert published a moment ago is still on its way
    try:
        while True:
            batch = _receive(sqs, url, wait)
            for message in batch:
                when, what, details = describe(message.get("Body", ""))
                app.out.print(f"{when:<19}  {what}  {details}")
                shown += 1
                if keep:
                    kept.append(message["ReceiptHandle"])
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not batch and not follow:
                break
            wait = 5 if follow else 0
    except KeyboardInterrupt:
        pass
    finally:
        for handle in kept:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    if not shown:
        app.out.print("no alerts")
