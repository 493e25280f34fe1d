"""`sagestack pipeline ...`: deploy the taxi pipeline, run it, and follow its executions.

Why `upsert` uploads before it deploys: the definition names the job code by
content-hashed S3 keys (see pipelines/code_bundle.py), so the objects must exist before
any execution can start; uploading first means a definition in SageMaker never points at
code that is not there. An unchanged definition is not re-sent, so `upsert` is safe to run
on every change (and in CI).

Why `start` checks parameters against the *deployed* definition: a typo in a parameter
name would otherwise be silently ignored by SageMaker and the run would use the default.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from botocore.exceptions import ClientError

from pipelines import parameters as names  # parameter names only: cheap, the SDK is imported lazily
from sagestack import progress, render, storage
from sagestack.context import App, pass_app
from sagestack.errors import SagestackError, is_not_found

LATEST = "latest"
DESCRIPTION = "NYC taxi trip duration: preprocess, train, evaluate, baseline, quality gate, register"
TERMINAL = progress.TERMINAL_EXECUTION


@click.group()
def pipeline() -> None:
    """The SageMaker pipeline: upsert, start, list executions, show steps."""


# ---------------------------------------------------------------------------- upsert


@contextmanager
def _quiet_sdk() -> Iterator[None]:
    """Silence the SDK while it builds, and undo the logging setup it does on import.

    Importing the SDK calls `logging.basicConfig(level=INFO)` (sagemaker.core.experiments),
    after which every library's INFO lines (botocore's included) would reach the terminal;
    its notes about what it leaves out of a definition are not news either: we mean it.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        root.handlers[:] = handlers
        root.setLevel(level)


# Building a definition with the SDK takes seconds; it is a pure function of the config and
# the code bundle's bytes, so a process that upserts repeatedly (the demo, tests) builds once.
_DEFINITIONS: dict[tuple[Any, ...], str] = {}


def build_definition(app: App, input_data_uri: str | None, rmse_threshold: float | None,
                     image_uri: str | None) -> tuple[Any, str, Any]:
    """The pipeline config, its definition JSON and the code bundle it points at, for the current settings."""
    from pipelines.code_bundle import build_code_bundle
    from pipelines.config import PipelineConfig
    from pipelines.definition import definition_json

    s = app.settings
    options: dict[str, Any] = {}
    if input_data_uri:
        options["input_data_uri"] = input_data_uri
    if rmse_threshold is not None:
        options["rmse_threshold"] = rmse_threshold
    if image_uri:
        options["image_uri"] = image_uri
    try:
        with _quiet_sdk():  # the config resolves the image URI with the SDK, which sets up logging on import
            config = PipelineConfig(role_arn=s.role_arn, bucket=s.bucket, region=s.region,
                                    pipeline_name=s.pipeline_name, prefix=s.prefix,
                                    model_package_group_name=s.model_package_group, **options)
            bundle = build_code_bundle(config.bucket, config.code_prefix)
            key = (config, tuple(bundle.items()))
            if key not in _DEFINITIONS:
                _DEFINITIONS[key] = definition_json(config, bundle)
            return config, _DEFINITIONS[key], bundle
    except (ValueError, FileNotFoundError) as e:
        raise SagestackError(str(e)) from None


def _ensure_group(app: App) -> bool:
    group = app.settings.model_package_group
    try:
        app.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        return False
    except ClientError as e:
        if not is_not_found(e):
            raise
    app.sagemaker.create_model_package_group(
        ModelPackageGroupName=group, ModelPackageGroupDescription="NYC taxi trip duration models (sagestack)")
    return True


def _deployed_definition(app: App) -> dict[str, Any] | None:
    """The pipeline as SageMaker has it, or None if it does not exist."""
    try:
        return app.sagemaker.describe_pipeline(PipelineName=app.settings.pipeline_name)
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


@pipeline.command()
@click.option("--input-data-uri", help="Default raw-data location (the InputDataUri default) [default: "
                                       "s3://<bucket>/<prefix>/data/].")
@click.option("--rmse-threshold", type=click.FloatRange(min=0, min_open=True),
              help="Default quality gate (the RmseThreshold default) [default: the pipeline's].")
@click.option("--image-uri", help="Job and serving image [default: the region's sklearn 1.2-1 image].")
@pass_app
def upsert(app: App, input_data_uri: str | None, rmse_threshold: float | None, image_uri: str | None) -> None:
    """Create or update the pipeline from pipelines/ (uploads the job code first)."""
    from pipelines.code_bundle import upload
    from pipelines.publish import upsert_pipeline

    s = app.settings
    config, definition, bundle = build_definition(app, input_data_uri, rmse_threshold, image_uri)
    if storage.ensure_bucket(app):
        app.out.print(f"created bucket {s.bucket}")
    written = upload(bundle, app.s3)
    app.out.print(f"job code: {len(written)} object(s) uploaded, {len(bundle) - len(written)} already in "
                  f"s3://{s.bucket}/{s.prefix}/code/")
    if _ensure_group(app):
        app.out.print(f"created model package group {s.model_package_group}")
    deployed = _deployed_definition(app)
    if deployed and deployed.get("RoleArn") == s.role_arn and \
            json.loads(deployed.get("PipelineDefinition") or "{}") == json.loads(definition):
        arn, action = deployed["PipelineArn"], "unchanged"
    else:
        arn = upsert_pipeline(app.sagemaker, config, definition, DESCRIPTION)
        action = "created" if deployed is None else "updated"
    app.out.print(f"pipeline {s.pipeline_name} {action} ({arn})")


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
        raise SagestackError(f"pipeline {s.pipeline_name} does not exist; create it with `sagestack pipeline upsert`")
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
        raise SagestackError(f"pipeline {app.settings.pipeline_name} does not exist; create it with "
                             "`sagestack pipeline upsert`")
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
