"""`sagestack pipeline ...`: run the stack's pipeline and follow its executions.

The pipeline itself (its definition from pipelines/, the job code as CDK assets) is part of
the stack: `sagestack deploy` creates and updates it.

Why `start` checks parameters against the *deployed* definition: a typo in a parameter
name would otherwise be silently ignored by SageMaker and the run would use the default.
"""

from __future__ import annotations

import json
from typing import Any

import click
from botocore.exceptions import ClientError

from pipelines import parameters as names  # parameter names only: cheap, the SDK is imported lazily
from sagestack import progress, render
from sagestack.context import App, pass_app
from sagestack.errors import SagestackError, is_not_found

LATEST = "latest"
TERMINAL = progress.TERMINAL_EXECUTION


@click.group()
def pipeline() -> None:
    """The stack's SageMaker pipeline: start, list executions, show steps."""


def _deployed_definition(app: App) -> dict[str, Any] | None:
    """The pipeline as SageMaker has it, or None if it does not exist."""
    try:
        return app.sagemaker.describe_pipeline(PipelineName=app.settings.need("pipeline_name"))
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


# ---------------------------------------------------------------------------- start


def _parameters_of(deployed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    try:
        parameters = json.loads(deployed.get("PipelineDefinition") or "{}").get("Parameters", [])
    except ValueError:
        return {}
    return {p["Name"]: p for p in parameters if isinstance(p, dict) and "Name" in p}


def _check_value(name: str, value: str, declared: dict[str, Any]) -> None:
    kind = declared.get("Type", "String")
    try:
        if kind == "Integer":
            int(value)
        elif kind == "Float":
            float(value)
        elif kind == "Boolean" and value.lower() not in ("true", "false"):
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{name} takes a value of type {kind}, not {value!r}", param_hint="--param") from None
    allowed = declared.get("EnumValues")
    if allowed and value not in allowed:
        raise click.BadParameter(f"{name} must be one of {', '.join(allowed)}, not {value!r}", param_hint="--param")


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """`("A=1", "B=x")` -> `{"A": "1", "B": "x"}`; a later value for the same name wins."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        params[name.strip()] = value
    return params


@pipeline.command()
@click.option("--param", "-p", "pairs", multiple=True, metavar="NAME=VALUE",
              help="Execution parameter, e.g. -p MaxIter=300 (repeatable).")
@click.option("--input", "input_uri", metavar="S3_URI", help="Shortcut for -p InputDataUri=S3_URI.")
@click.option("--rmse-threshold", type=float, help="Shortcut for -p RmseThreshold=X.")
@click.option("--approval-status", type=click.Choice(names.APPROVAL_STATUSES),
              help="Shortcut for -p ModelApprovalStatus=X (status of the registered package).")
@click.option("--display-name", help="Display name of the execution.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the execution until it ends.")
@click.option("--timeout", type=click.FloatRange(min=1), help="Stop following after this many seconds (exit 1).")
@click.option("--poll", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Seconds between polls.")
@pass_app
def start(app: App, pairs: tuple[str, ...], input_uri: str | None, rmse_threshold: float | None,
          approval_status: str | None, display_name: str | None, wait: bool, timeout: float | None,
          poll: float) -> None:
    """Start an execution and show its steps live until it ends (exit 1 if it fails)."""
    s = app.settings
    params = parse_params(pairs)
    for name, value in ((names.INPUT_DATA_URI, input_uri), (names.RMSE_THRESHOLD, rmse_threshold),
                        (names.MODEL_APPROVAL_STATUS, approval_status)):
        if value is not None:
            params[name] = str(value)
    deployed = _deployed_definition(app)
    if deployed is None:
        raise SagestackError(f"pipeline {s.pipeline_name} does not exist; deploy the stack with `sagestack deploy`")
    declared = _parameters_of(deployed)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise click.BadParameter(f"pipeline {s.pipeline_name} has no parameter {', '.join(unknown)} "
                                 f"(it has: {', '.join(declared) or 'none'})", param_hint="--param")
    for name, value in params.items():
        _check_value(name, value, declared[name])
    kwargs: dict[str, Any] = {"PipelineName": s.pipeline_name}
    if params:
        kwargs["PipelineParameters"] = [{"Name": k, "Value": v} for k, v in params.items()]
    if display_name:
        kwargs["PipelineExecutionDisplayName"] = display_name
    arn = app.sagemaker.start_pipeline_execution(**kwargs)["PipelineExecutionArn"]
    execution_id = render.short_id(arn)
    app.out.print(f"started execution {execution_id} of {s.pipeline_name}"
                  + (f" with {', '.join(f'{k}={v}' for k, v in params.items())}" if params else ""))
    if not wait:
        app.out.print(f"follow it with `sagestack pipeline steps --follow {execution_id}`")
        return
    _follow(app, arn, poll, timeout)


def _follow(app: App, arn: str, poll: float, timeout: float | None) -> None:
    execution_id = render.short_id(arn)
    try:
        execution, steps = progress.follow_execution(app.out, app.sagemaker, arn, poll_seconds=poll, timeout=timeout)
    except TimeoutError as e:
        raise SagestackError(f"execution {execution_id} {e}; follow it with `sagestack pipeline steps --follow "
                             f"{execution_id}`") from None
    except KeyboardInterrupt:
        app.err.print(f"stopped following; execution {execution_id} continues (`sagestack pipeline steps "
                      f"--follow {execution_id}`)")
        raise click.exceptions.Exit(130) from None
    _report_end(app, execution, steps)


def failure_reason(execution: dict[str, Any], steps: list[dict[str, Any]]) -> str:
    """Why an execution failed: its own reason, else the failed steps' reasons."""
    reasons = []
    for step in steps:
        if step.get("StepStatus") == "Failed":
            fail = (step.get("Metadata") or {}).get("Fail", {})
            reasons.append(f"{step.get('StepName')}: {step.get('FailureReason') or fail.get('ErrorMessage', '')}")
    own = execution.get("FailureReason") or ""
    text = own if own else "; ".join(reasons)
    return render.one_line_reason(text or "no reason given", 400)


def _report_end(app: App, execution: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    status = execution.get("PipelineExecutionStatus")
    execution_id = render.short_id(execution.get("PipelineExecutionArn", ""))
    took = render.duration(execution.get("CreationTime"), execution.get("LastModifiedTime"))
    if status != "Succeeded":
        raise SagestackError(f"execution {execution_id} {status} after {took}: {failure_reason(execution, steps)}")
    app.out.print(f"execution {execution_id} Succeeded in {took}")
    for step in steps:
        registered = (step.get("Metadata") or {}).get("RegisterModel", {}).get("Arn")
        if registered and step.get("StepStatus") == "Succeeded":
            version = render.short_id(registered)
            app.out.print(f"registered model package version {version}; review with `sagestack model list`, "
                          f"approve with `sagestack model approve {version}`")


# ---------------------------------------------------------------------------- list and steps


def executions(app: App, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` executions of the pipeline, newest first."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PipelineName": app.settings.pipeline_name, "SortBy": "CreationTime",
                              "SortOrder": "Descending", "MaxResults": min(limit, 100)}
    while len(found) < limit:
        page = app.sagemaker.list_pipeline_executions(**kwargs)
        found.extend(page.get("PipelineExecutionSummaries", []))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    found.sort(key=lambda e: e.get("StartTime") or 0, reverse=True)
    return found[:limit]


def _require_pipeline(app: App) -> dict[str, Any]:
    deployed = _deployed_definition(app)
    if deployed is None:
        raise SagestackError(f"pipeline {app.settings.pipeline_name} does not exist; deploy the stack with "
                             "`sagestack deploy`")
    return deployed


@pipeline.command("list")
@click.option("--max", "limit", type=click.IntRange(min=1), default=10, show_default=True)
@pass_app
def list_executions(app: App, limit: int) -> None:
    """List recent executions with their status and times."""
    _require_pipeline(app)
    found = executions(app, limit)
    if not found:
        app.out.print(f"pipeline {app.settings.pipeline_name} has no executions yet (`sagestack pipeline start`)")
        return
    table = render.table("Execution", "Status", "Started", "Duration", "Name", "Failure",
                         title=f"executions of {app.settings.pipeline_name}")
    for summary in found:
        arn = summary.get("PipelineExecutionArn", "")
        status = summary.get("PipelineExecutionStatus")
        end = None
        if status in TERMINAL:
            end = app.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn).get("LastModifiedTime")
        table.add_row(render.short_id(arn), render.status_text(status), render.clock(summary.get("StartTime")),
                      render.duration(summary.get("StartTime"), end),
                      summary.get("PipelineExecutionDisplayName") or "",
                      render.one_line_reason(summary.get("PipelineExecutionFailureReason") or "", 80))
    app.out.print(table)


def resolve_execution(app: App, which: str) -> str:
    """An execution ARN from an ARN, an execution id, or `latest`."""
    if which.startswith("arn:"):
        return which
    deployed = _require_pipeline(app)
    if which == LATEST:
        found = executions(app, 1)
        if not found:
            raise SagestackError(f"pipeline {app.settings.pipeline_name} has no executions yet")
        return str(found[0]["PipelineExecutionArn"])
    return f"{deployed['PipelineArn']}/execution/{which}"


@pipeline.command()
@click.argument("execution", default=LATEST, metavar="[EXECUTION_ARN|ID|latest]")
@click.option("--follow", "-f", is_flag=True, help="Follow a running execution live until it ends (exit 1 if it "
                                                    "fails), like `pipeline start`.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Seconds between polls.")
@pass_app
def steps(app: App, execution: str, follow: bool, poll: float) -> None:
    """Show the steps of an execution (default: the latest)."""
    arn = resolve_execution(app, execution)
    if follow:
        _follow(app, arn, poll, None)
        return
    described = app.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    found = progress.list_steps(app.sagemaker, arn)
    app.out.print(progress.execution_header(described))
    app.out.print(progress.steps_table(found))
    if described.get("PipelineExecutionStatus") in ("Failed", "Stopped"):
        app.out.print(f"failure: {failure_reason(described, found)}")
