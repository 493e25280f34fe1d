"""Live progress for the things that take a while: localcloud start, executions, endpoints.

Why two renderings: on a terminal a person wants one live table that redraws in place; in
CI logs or a pipe, redrawing is noise, so the same information comes out as one line per
change (a step starting, a step finishing, a status change) that reads well afterwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sagestack import render

TERMINAL_EXECUTION = ("Succeeded", "Failed", "Stopped")


@contextmanager
def spinner(console: Console, message: str) -> Iterator[Callable[[str], None]]:
    """A spinner with `message` on a terminal (or one printed line otherwise); yields `update(text)`."""
    if not console.is_terminal:
        console.print(message)
        yield lambda _text: None
        return
    with console.status(message) as status:
        yield lambda text: status.update(f"{message} {text}")


# ---------------------------------------------------------------------------- pipeline executions


def step_kind(step: dict[str, Any]) -> str:
    """The step type as shown, read from which metadata the step carries."""
    metadata = step.get("Metadata") or {}
    for key, kind in (("TrainingJob", "Training"), ("ProcessingJob", "Processing"), ("Condition", "Condition"),
                      ("RegisterModel", "RegisterModel"), ("Fail", "Fail"), ("Model", "Model"),
                      ("TransformJob", "Transform"), ("Lambda", "Lambda"), ("QualityCheck", "QualityCheck")):
        if key in metadata:
            return kind
    return "-"


def step_detail(step: dict[str, Any]) -> str:
    """The one fact worth showing per step: its job, the condition's outcome, the package, the error."""
    metadata = step.get("Metadata") or {}
    if step.get("FailureReason"):
        return render.one_line_reason(step["FailureReason"])
    if "Condition" in metadata:
        return f"outcome {metadata['Condition'].get('Outcome', '?')}"
    if "RegisterModel" in metadata:
        return f"model package {render.short_id(metadata['RegisterModel'].get('Arn', '?'))}"
    if "Fail" in metadata:
        return render.one_line_reason(metadata["Fail"].get("ErrorMessage", ""))
    for key in ("TrainingJob", "ProcessingJob", "TransformJob"):
        if key in metadata:
            return render.short_id(metadata[key].get("Arn", ""))
    return ""


def list_steps(sagemaker: Any, execution_arn: str) -> list[dict[str, Any]]:
    """All steps of an execution in the order they started."""
    steps: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PipelineExecutionArn": execution_arn, "SortOrder": "Ascending"}
    while True:
        page = sagemaker.list_pipeline_execution_steps(**kwargs)
        steps.extend(page.get("PipelineExecutionSteps", []))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    far_future = datetime.max.replace(tzinfo=UTC)
    steps.sort(key=lambda s: s.get("StartTime") or far_future)
    return steps


def steps_table(steps: list[dict[str, Any]]) -> Table:
    table = render.table("Step", "Type", "Status", "Started", "Duration", "Detail")
    for step in steps:
        table.add_row(
            step.get("StepDisplayName") or step.get("StepName", "?"),
            step_kind(step),
            render.status_text(step.get("StepStatus")),
            render.clock(step.get("StartTime")),
            render.duration(step.get("StartTime"), step.get("EndTime")),
            step_detail(step),
        )
    return table


def execution_header(execution: dict[str, Any]) -> Text:
    arn = execution.get("PipelineExecutionArn", "")
    header = Text.assemble(
        ("execution ", "bold"), render.short_id(arn), "  ",
        render.status_text(execution.get("PipelineExecutionStatus")), "  ",
        render.duration(execution.get("CreationTime"), _end_time(execution)),
    )
    return header


def _end_time(execution: dict[str, Any]) -> Any:
    if execution.get("PipelineExecutionStatus") in TERMINAL_EXECUTION:
        return execution.get("LastModifiedTime")
    return None


@dataclass
class _ChangeLog:
    """Prints a line whenever a step appears or changes status (the non-terminal rendering)."""

    console: Console
    seen: dict[str, str] = field(default_factory=dict)
    status: str = ""

    def update(self, execution: dict[str, Any], steps: list[dict[str, Any]]) -> None:
        overall = execution.get("PipelineExecutionStatus", "?")
        if overall not in TERMINAL_EXECUTION:
            self._status(overall)
        for step in steps:
            name, status = step.get("StepName", "?"), step.get("StepStatus", "?")
            if self.seen.get(name) == status:
                continue
            self.seen[name] = status
            took = ""
            if step.get("EndTime"):
                took = f" after {render.duration(step.get('StartTime'), step.get('EndTime'))}"
            detail = step_detail(step)
            self.console.print(f"{render.clock(datetime.now(UTC))}  {name}: {status}{took}"
                               + (f" ({detail})" if detail else ""))
        self._status(overall)

    def _status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.console.print(f"{render.clock(datetime.now(UTC))}  execution {status}")


def follow_execution(console: Console, sagemaker: Any, execution_arn: str, poll_seconds: float = 1.0,
                     timeout: float | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Show the execution's steps live until it ends; return its final description and steps.

    Raises TimeoutError after `timeout` seconds (the execution keeps running).
    """
    started = time.monotonic()

    def poll() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return (sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn),
                list_steps(sagemaker, execution_arn))

    execution, steps = poll()
    if console.is_terminal:
        with Live(Group(execution_header(execution), steps_table(steps)), console=console,
                  refresh_per_second=4, transient=False) as live:
            while execution.get("PipelineExecutionStatus") not in TERMINAL_EXECUTION:
                _check_timeout(started, timeout)
                time.sleep(poll_seconds)
                execution, steps = poll()
                live.update(Group(execution_header(execution), steps_table(steps)))
        return execution, steps
    log = _ChangeLog(console)
    log.update(execution, steps)
    while execution.get("PipelineExecutionStatus") not in TERMINAL_EXECUTION:
        _check_timeout(started, timeout)
        time.sleep(poll_seconds)
        execution, steps = poll()
        log.update(execution, steps)
    console.print(steps_table(steps))
    return execution, steps


def _check_timeout(started: float, timeout: float | None) -> None:
    if timeout is not None and time.monotonic() - started > timeout:
        raise TimeoutError(f"still running after {timeout:.0f} s")


# ---------------------------------------------------------------------------- endpoints


def deployment_line(described: dict[str, Any]) -> str:
    """An endpoint's state in one line: its status and, while it changes, where the deployment is."""
    status = described["EndpointStatus"]
    pending = described.get("PendingDeploymentSummary") or {}
    phase = ((pending.get("ProductionVariants") or [{}])[0].get("VariantStatus") or [{}])[0]
    if pending:
        what = f"{phase.get('Status', 'Creating')}" + (f": {phase['StatusMessage']}" if phase.get("StatusMessage")
                                                        else f" (new fleet {pending.get('EndpointConfigName', '?')})")
        return f"{status}, {what}"
    return status


class DeploymentWatch:
    """Prints an endpoint's changes while something else changes it (`cdk deploy` of a new model).

    A thread polls DescribeEndpoint and the rollback alarms the deployment named, and prints one
    line per change: the status, the deployment's phase and traffic split, an alarm that fires,
    the outcome. The CDK CLI only says that the endpoint resource is being updated; this is what
    the person deploying wants to see during a canary.
    """

    def __init__(self, console: Console, sagemaker: Any, cloudwatch: Any, endpoint_name: str,
                 poll_seconds: float = 0.5):
        self.console, self.sagemaker, self.cloudwatch = console, sagemaker, cloudwatch
        self.name, self.poll_seconds = endpoint_name, poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{endpoint_name}", daemon=True)
        self._shown: dict[str, str] = {}

    def __enter__(self) -> DeploymentWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a watch must never break the deploy it watches
                self.poll()
            self._stop.wait(self.poll_seconds)

    def poll(self) -> None:
        try:
            described = self.sagemaker.describe_endpoint(EndpointName=self.name)
        except Exception:  # not created yet, or unreachable for a moment
            return
        self._show("endpoint", f"endpoint {self.name}: {deployment_line(described)}")
        if described.get("FailureReason") and described["EndpointStatus"] == "InService":
            self._show("failure", f"endpoint {self.name}: {render.one_line_reason(described['FailureReason'])}")
        alarms = [a["AlarmName"] for a in ((described.get("LastDeploymentConfig") or {}).get(
            "AutoRollbackConfiguration") or {}).get("Alarms") or []]
        if alarms and described.get("PendingDeploymentSummary"):
            found = self.cloudwatch.describe_alarms(AlarmNames=alarms)
            firing = sorted(a["AlarmName"] for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
                            if a.get("StateValue") == "ALARM")
            self._show("alarms", f"rollback alarm(s) in ALARM: {', '.join(firing)}" if firing else "")

    def _show(self, key: str, line: str) -> None:
        if self._shown.get(key, "") != line:
            self._shown[key] = line
            if line:
                self.console.print(f"  {line}", markup=False, highlight=False)
