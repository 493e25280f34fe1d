"""`sagestack logs ...`: a job's, a pipeline execution's, the endpoint's or the deploying function's log,
read from CloudWatch Logs.

Why CloudWatch Logs and not localcloud's files: SageMaker ships container output there
(`/aws/sagemaker/{Processing,Training,Transform}Jobs`, stream `<job>/...`;
`/aws/sagemaker/Endpoints/<endpoint>`, a stream per variant and instance), and localcloud does
the same, so one command reads both, with `--aws` too. `--follow` keeps reading until the work
ends (a job or an execution), or until Ctrl-C (an endpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from botocore.exceptions import ClientError

from sagestack import progress
from sagestack.context import App, pass_app
from sagestack.errors import SagestackError, is_not_found
from sagestack.job_logs import DONE, KINDS, Tail, job_prefix
from sagestack.pipeline_cmds import LATEST, resolve_execution


def _show(event: dict[str, Any], label: str | None) -> None:
    """One line: time, a label (None: the event's stream), the message, printed raw (logs are not markup)."""
    clock = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S")
    prefix = f"[{event.get('logStreamName', '')}] " if label is None else label
    click.echo(f"{clock} {prefix}{event['message'].rstrip()}")


def _follow(tails: Callable[[], list[tuple[Tail, str | None]]], done: Callable[[], bool], follow: bool,
            poll: float) -> None:
    """Print what the tails hold; with `follow`, keep printing until `done()` (then once more)."""
    while True:
        finished = done() if follow else True
        fresh = [(event, label) for tail, label in tails() for event in tail.poll()]
        for event, label in sorted(fresh, key=lambda pair: pair[0]["timestamp"]):  # steps' lines interleaved
            _show(event, label)
        if finished:
            return
        time.sleep(poll)


def _job(app: App, name: str) -> tuple[str, str]:
    """(kind, status) of the job named `name`, whichever kind it is."""
    for kind, job in KINDS.items():
        try:
            described = getattr(app.sagemaker, job.describe)(**{job.name_key: name})
        except ClientError as e:
            if is_not_found(e) or e.response.get("Error", {}).get("Code") == "ValidationException":
                continue
            raise
        return kind, str(described.get(job.status_key, ""))
    raise SagestackError(f"no processing, training or transform job is named {name!r}")


_FOLLOW = click.option("--follow", "-f", is_flag=True, help="Keep reading until the work ends (Ctrl-C stops).")
_POLL = click.option("--poll", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
                     help="Seconds between reads when following.")


@click.group()
def logs() -> None:
    """Logs of a job, a pipeline execution, the endpoint or the deploying function (from CloudWatch Logs)."""


@logs.command()
@click.argument("name")
@_FOLLOW
@_POLL
@pass_app
def job(app: App, name: str, follow: bool, poll: float) -> None:
    """A processing, training or transform job's log."""
    kind, _ = _job(app, name)
    tail = Tail(app.client("logs"), KINDS[kind].log_group, job_prefix(name))
    try:
        _follow(lambda: [(tail, "")], lambda: _job(app, name)[1] in DONE, follow, poll)
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


@logs.command()
@click.argument("execution", default=LATEST, metavar="[EXECUTION_ARN|ID|latest]")
@_FOLLOW
@_POLL
@pass_app
def execution(app: App, execution: str, follow: bool, poll: float) -> None:
    """Every step's job log of a pipeline execution, each line labelled with its step."""
    arn = resolve_execution(app, execution)
    client = app.client("logs")
    tails: dict[str, tuple[Tail, str | None]] = {}

    def current() -> list[tuple[Tail, str | None]]:
        for step in reversed(progress.list_steps(app.sagemaker, arn)):
            for kind in KINDS:
                job_arn = ((step.get("Metadata") or {}).get(kind) or {}).get("Arn")
                if job_arn and job_arn not in tails:
                    tails[job_arn] = (Tail(client, KINDS[kind].log_group, job_prefix(job_arn.rsplit("/", 1)[-1])),
                                      f"[{step.get('StepName')}] ")
        return list(tails.values())

    def done() -> bool:
        status = app.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        return status in progress.TERMINAL_EXECUTION

    try:
        _follow(current, done, follow, poll)
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


@logs.command()
@_FOLLOW
@_POLL
@pass_app
def endpoint(app: App, follow: bool, poll: float) -> None:
    """The endpoint's model servers' log (every variant and instance); --follow until Ctrl-C."""
    _tail_group(app, f"/aws/sagemaker/Endpoints/{app.settings.need('endpoint_name')}", follow, poll)


@logs.command()
@_FOLLOW
@_POLL
@pass_app
def function(app: App, follow: bool, poll: float) -> None:
    """The log of the stack's function that deploys approved models; --follow until Ctrl-C."""
    _tail_group(app, f"/aws/lambda/{app.settings.need('deployer_function')}", follow, poll)


def _tail_group(app: App, group: str, follow: bool, poll: float) -> None:
    """A whole log group's events (every stream); with --follow, until Ctrl-C."""
    tail = Tail(app.client("logs"), group)
    try:
        _follow(lambda: [(tail, None)], lambda: False, follow, poll)
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None
