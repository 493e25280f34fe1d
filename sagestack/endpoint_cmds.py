"""`sagestack endpoint ...`: serve the latest approved model through the stack, call it, inspect it, remove it.

The endpoint belongs to the stack (infra/serving.py): which model package it serves is the
stack's `ModelPackageArn` parameter, so deploying a model is a `cdk deploy` with that
parameter (and the model digest the package was registered with), and removing the
endpoint is a deploy with the parameter emptied. CloudFormation makes a new model and
endpoint config per package (configs are immutable), updates the endpoint blue/green, and
deletes the old ones only once the new fleet serves.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from botocore.exceptions import ClientError

from functions.deploy_approved_model import release
from infra.outputs import (
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    DIGEST_PARAMETER,
    PACKAGE_PARAMETER,
    QUALITY_CONSTRAINTS_PARAMETER,
)
from sagestack import ab, approvals, progress, registry, render, variant_quality
from sagestack.context import App, pass_app
from sagestack.errors import SagestackError, is_not_found
from sagestack.stack_cmds import deploy_stack

CSV, JSON = "text/csv", "application/json"


@click.group()
def endpoint() -> None:
    """The real-time endpoint: deploy, invoke, status, delete."""


def describe(app: App, name: str) -> dict[str, Any] | None:
    """The endpoint's description, or None when it does not exist."""
    try:
        return app.sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


def _approved_package(app: App, which: str | None) -> dict[str, Any]:
    group = app.settings.need("model_package_group")
    if which is None:
        return registry.latest_approved(app.sagemaker, group)
    package = registry.resolve(app.sagemaker, group, which)
    if package.get("ModelApprovalStatus") != "Approved":
        raise SagestackError(f"model package version {package.get('ModelPackageVersion', which)} is "
                             f"{package.get('ModelApprovalStatus')}, not Approved; approve it first "
                             f"(`sagestack model approve {package.get('ModelPackageVersion', which)}`)")
    return package


def _baselines(app: App, arn: str) -> dict[str, str]:
    """The stack's monitor parameters from the package's DriftCheckBaselines ("" where it has none).

    A package without a data-quality or model-quality baseline gets no such monitor, and the
    deploy says so.
    """
    found = release.baselines(app.sagemaker.describe_model_package(ModelPackageName=arn))
    if not found["statistics"]:
        app.out.print("the package has no data-quality baseline: the endpoint will have no data-quality monitor")
    if not found["quality"]:
        app.out.print("the package has no model-quality baseline: the endpoint will have no model-quality monitor")
    return {BASELINE_STATISTICS_PARAMETER: found["statistics"], BASELINE_CONSTRAINTS_PARAMETER: found["constraints"],
            QUALITY_CONSTRAINTS_PARAMETER: found["quality"]}


def _check_deployable(app: App, name: str) -> dict[str, Any] | None:
    """The endpoint's description; a clear error when its state stops a deploy."""
    existing = describe(app, name)
    if existing and existing["EndpointStatus"] not in ("InService", "Failed"):
        raise SagestackError(f"endpoint {name} is {existing['EndpointStatus']}; wait until it is InService "
                             "(`sagestack endpoint status`)")
    return existing


@endpoint.command()
@click.option("--version", "which", metavar="VERSION",
              help="Approved package version to deploy [default: the latest Approved].")
@click.option("--force", is_flag=True, help="Deploy even if the stack already serves this package.")
@click.option("--yes", "-y", is_flag=True, help="With --aws, do not ask about security-relevant changes.")
@pass_app
def deploy(app: App, which: str | None, force: bool, yes: bool) -> None:
    """Serve the latest Approved model package: `cdk deploy` with the package as the stack's parameter.

    The stack (infra/serving.py) makes the model, the endpoint config (data capture, KMS) and
    the endpoint, or updates the endpoint blue/green to the new package. The model server is
    given the sha256 of model.joblib that the package was registered with and refuses any
    other artifact.
    """
    s = app.settings
    package = _approved_package(app, which)
    arn, version = package["ModelPackageArn"], package.get("ModelPackageVersion", "?")
    pin = registry.model_pin(app.sagemaker, arn)
    if pin is None:
        raise SagestackError(f"model package version {version} records no model sha256, so the endpoint could not "
                             f"check that it serves the registered artifact; register it with the pipeline")
    name = s.need("endpoint_name")
    if s.stack.status and s.stack.status.endswith("_IN_PROGRESS"):
        raise SagestackError(f"stack {s.stack.name} is {s.stack.status} (a deployment is under way, perhaps of an "
                             f"approval); wait until it ends (`sagestack endpoint status`)")
    existing = _check_deployable(app, name)
    if not force and existing and existing["EndpointStatus"] == "InService" and s.served_model_package == arn:
        app.out.print(f"endpoint {name} already serves model package version {version} (--force deploys it again)")
        return
    app.out.print(f"{'updating' if existing else 'creating'} endpoint {name} with model package version {version} "
                  f"through stack {s.stack.name}")
    served_before, started = s.served_model_package, datetime.now(UTC)
    try:
        with progress.DeploymentWatch(app.err, app.sagemaker, app.client("cloudwatch"), name):
            took = deploy_stack(app, {PACKAGE_PARAMETER: arn, DIGEST_PARAMETER: pin, **_baselines(app, arn)},
                                yes=yes)
    except SagestackError:
        _explain_rollback(app, name, version, served_before, started)
        raise
    final = describe(app, name)
    if final is None or final["EndpointStatus"] != "InService":
        status = final["EndpointStatus"] if final else "missing"
        raise SagestackError(f"the stack deployed but endpoint {name} is {status}; see `sagestack endpoint status`")
    if app.settings.served_model_package != arn:
        raise SagestackError(f"the stack deployed but serves {app.settings.served_model_package}, not {arn}")
    app.out.print(f"endpoint {name} is InService, serving model package version {version} "
                  f"({render.seconds_text(took)})")


def _explain_rollback(app: App, name: str, version: str, served_before: str | None, since: datetime) -> None:
    """When the deployment's guardrails rolled the endpoint back, say so plainly (the stack rolled back too)."""
    described = describe(app, name)
    reason = (described or {}).get("FailureReason") or ""
    if described is None or "rolled back" not in reason or described["LastModifiedTime"] < since - timedelta(seconds=5):
        return
    raise approvals.rolled_back(version, reason, served_before)


def _content_type(body: bytes, file_name: str | None) -> str:
    if file_name and file_name.lower().endswith(".json"):
        return JSON
    if file_name and file_name.lower().endswith(".csv"):
        return CSV
    return JSON if body.lstrip()[:1] in (b"[", b"{") else CSV


@endpoint.command()
@click.option("--body", "-b", help="The request body, e.g. '1.2,132,236,1,8,2,0,0.87,-0.5,1'.")
@click.option("--file", "-f", "source", type=click.File("rb"), help="Read the body from a file ('-' for stdin).")
@click.option("--content-type", "-t", help=f"[default: {JSON} if the body starts with [ or {{, else {CSV}]")
@click.option("--accept", "-a", help="Response type [default: the content type].")
@click.option("--variant", help="Send to this production variant (TargetVariant).")
@pass_app
def invoke(app: App, body: str | None, source: Any, content_type: str | None, accept: str | None,
           variant: str | None) -> None:
    """Send one request to the endpoint and print its predictions."""
    if (body is None) == (source is None):
        raise click.UsageError("give exactly one of --body and --file")
    payload = body.encode() if body is not None else source.read()
    if not payload.strip():
        raise click.UsageError("the request body is empty")
    kind = content_type or _content_type(payload, getattr(source, "name", None))
    kwargs: dict[str, Any] = {"EndpointName": app.settings.need("endpoint_name"), "ContentType": kind,
                              "Accept": accept or kind, "Body": payload}
    if variant:
        kwargs["TargetVariant"] = variant
    response = app.client("sagemaker-runtime").invoke_endpoint(**kwargs)
    # Raw output (not rich): predictions are data, and JSON brackets must not be read as markup.
    click.echo(response["Body"].read().decode(errors="replace").rstrip("\n"))


@endpoint.command()
@pass_app
def status(app: App) -> None:
    """Show the endpoint's status and the model package it serves."""
    name = app.settings.need("endpoint_name")
    described = describe(app, name)
    if described is None:
        raise SagestackError(f"endpoint {name} does not exist (deploy it with `sagestack endpoint deploy`)")
    table = render.table("", "", show_header=False)
    table.add_row("endpoint", name)
    table.add_row("status", render.status_text(described["EndpointStatus"]))
    table.add_row("config", described.get("EndpointConfigName", "-"))
    packages = list(registry.served_packages(app.sagemaker, described["EndpointConfigName"]).values()) \
        if described.get("EndpointConfigName") else []
    table.add_row("model packages", ", ".join(packages) or "-")
    table.add_row("created", render.clock(described.get("CreationTime")))
    table.add_row("last modified", render.clock(described.get("LastModifiedTime")))
    pending = described.get("PendingDeploymentSummary") or {}
    if pending:
        phase = ((pending.get("ProductionVariants") or [{}])[0].get("VariantStatus") or [{}])[0]
        table.add_row("deploying", f"{pending.get('EndpointConfigName', '?')}: {phase.get('Status', 'Creating')}"
                                   + (f" ({phase['StatusMessage']})" if phase.get("StatusMessage") else ""))
    alarms = [a["AlarmName"] for a in ((described.get("LastDeploymentConfig") or {}).get(
        "AutoRollbackConfiguration") or {}).get("Alarms") or []]
    if alarms:
        states = {a["AlarmName"]: a["StateValue"] for a in app.client("cloudwatch").describe_alarms(
            AlarmNames=alarms)["MetricAlarms"]}
        table.add_row("rollback alarms", ", ".join(
            f"{name} [{render.STATE_COLOURS.get(states.get(name, ''), 'white')}]{states.get(name, 'missing')}[/]"
            for name in alarms))
    if described.get("FailureReason"):
        table.add_row("failure", render.one_line_reason(described["FailureReason"], 300))
    app.out.print(table)


def _weights(pairs: tuple[str, ...]) -> dict[str, float]:
    """`A=0.9 B=0.1` -> {"A": 0.9, "B": 0.1}; a clear error for anything else."""
    found: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            weight = float(value) if sep and name else -1.0
        except ValueError:
            weight = -1.0
        if weight < 0 or not math.isfinite(weight):
            raise SagestackError(f"{pair!r} is not VARIANT=WEIGHT with a weight of 0 or more (e.g. B=0.1)")
        if name in found:
            raise SagestackError(f"variant {name} is given twice")
        found[name] = weight
    return found


@endpoint.command()
@click.argument("pairs", nargs=-1, required=True, metavar="VARIANT=WEIGHT...")
@pass_app
def weights(app: App, pairs: tuple[str, ...]) -> None:
    """Shift traffic between the endpoint's production variants (an A/B split), at once.

    Each variant's share is its weight over the sum of all weights; variants not named keep theirs.
    """
    name = app.settings.need("endpoint_name")
    wanted = _weights(pairs)
    app.sagemaker.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": variant, "DesiredWeight": weight} for variant, weight in wanted.items()])
    variants = (describe(app, name) or {}).get("ProductionVariants") or []
    total = sum(float(v.get("CurrentWeight") or 0) for v in variants)
    table = render.table("variant", "weight", "share of the traffic", title=f"endpoint {name}")
    for variant in variants:
        weight = float(variant.get("CurrentWeight") or 0)
        table.add_row(variant["VariantName"], render.metric(weight), f"{weight / total:.0%}" if total else "-")
    app.out.print(table)


def _figures(app: App, endpoint_name: str, variant: str, minutes: int) -> ab.VariantFigures:
    """A variant's invocations, errors and average model latency over the last `minutes` (CloudWatch)."""
    cw = app.client("cloudwatch")
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant}]
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes + 1)

    def stat(metric: str, statistic: str) -> float | None:
        points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dimensions,
                                          StartTime=start, EndTime=end, Period=(minutes + 2) * 60,
                                          Statistics=[statistic])["Datapoints"]
        return float(points[0][statistic]) if points else None

    errors = sum(stat(m, "Sum") or 0.0 for m in ("Invocation4XXErrors", "Invocation5XXErrors"))
    return ab.VariantFigures(variant, stat("Invocations", "Sum") or 0.0, errors, stat("ModelLatency", "Average"))


@endpoint.command()
@click.argument("champion")
@click.argument("challenger")
@click.option("--minutes", type=click.IntRange(1, 1440), default=60, show_default=True,
              help="How far back to look.")
@click.option("--ground-truth", metavar="S3URI",
              help="Where labels are (hour folders) [default: the stack's GroundTruthUri].")
@pass_app
def compare(app: App, champion: str, challenger: str, minutes: int, ground_truth: str | None) -> None:
    """Compare two production variants: traffic, error rate and, where ground truth exists, accuracy
    (each with a significance test), and latency."""
    name = app.settings.need("endpoint_name")
    described = describe(app, name)
    if described is None:
        raise SagestackError(f"endpoint {name} does not exist (deploy it with `sagestack endpoint deploy`)")
    known = [v["VariantName"] for v in described.get("ProductionVariants") or []]
    for variant in (champion, challenger):
        if variant not in known:
            raise SagestackError(f"endpoint {name} has no variant {variant} (it has: {', '.join(known)})")
    a, b = (_figures(app, name, v, minutes) for v in (champion, challenger))
    table = render.table("variant", "invocations", "errors", "error rate", "model latency (avg)",
                         title=f"endpoint {name}, last {minutes} min")
    for figures in (a, b):
        rate = figures.error_rate
        table.add_row(figures.name, f"{figures.invocations:,.0f}", f"{figures.errors:,.0f}",
                      "-" if rate is None else f"{rate:.2%}",
                      "-" if figures.latency_us is None else f"{figures.latency_us / 1000:.2f} ms")
    app.out.print(table)
    p = ab.error_rate_p_value(a.errors, a.invocations, b.errors, b.invocations)
    if p is None:
        app.out.print("not enough traffic on both variants to compare them")
    elif p < 0.05:
        worse = challenger if (b.error_rate or 0) > (a.error_rate or 0) else champion
        app.out.print(f"the error rates differ (two-proportion z-test, p = {p:.3g} < 0.05): {worse} fails more")
    else:
        app.out.print(f"no significant difference in error rate (two-proportion z-test, p = {p:.3g})")
    _compare_accuracy(app, described, (champion, challenger), minutes, ground_truth or app.settings.ground_truth_uri)


def _compare_accuracy(app: App, described: dict[str, Any], variants: tuple[str, str], minutes: int,
                      ground_truth: str | None) -> None:
    """Each variant's MAE and RMSE on its captured requests that have ground truth, and Welch's t-test."""
    config = app.sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    capture = (config.get("DataCaptureConfig") or {}).get("DestinationS3Uri")
    if not capture or not ground_truth:
        app.out.print("model quality: not compared (it needs data capture on the endpoint and ground truth)")
        return
    until = datetime.now(UTC)
    since = until - timedelta(minutes=minutes)
    truth = variant_quality.labels(app.s3, ground_truth, since, until)
    a, b = (ab.Accuracy(variant_quality.errors(app.s3, capture, described["EndpointName"], v, truth, since, until))
            for v in variants)
    if not a.errors and not b.errors:
        app.out.print(f"model quality: no labelled requests yet (labels go under {ground_truth}, by InferenceId)")
        return
    table = render.table("variant", "labelled requests", "MAE", "RMSE", title="model quality against ground truth")
    for name, accuracy in zip(variants, (a, b), strict=True):
        table.add_row(name, str(len(accuracy.errors)), render.metric(accuracy.mae), render.metric(accuracy.rmse))
    app.out.print(table)
    p = ab.accuracy_p_value(a, b)
    if p is None:
        app.out.print("not enough labelled requests on both variants to compare their accuracy")
    elif p < 0.05:
        worse = variants[1] if (b.mae or 0) > (a.mae or 0) else variants[0]
        app.out.print(f"the accuracy differs (Welch's t-test on absolute errors, p = {p:.3g} < 0.05): "
                      f"{worse} is less accurate")
    else:
        app.out.print(f"no significant difference in accuracy (Welch's t-test on absolute errors, p = {p:.3g})")


@endpoint.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (only asked on --aws).")
@pass_app
def delete(app: App, yes: bool) -> None:
    """Remove the endpoint: deploy the stack serving nothing (its model and config go with it)."""
    s = app.settings
    name = s.need("endpoint_name")
    if not s.served_model_package and describe(app, name) is None:
        app.out.print(f"stack {s.stack.name} serves no endpoint")
        return
    if app.target.aws and not yes:
        click.confirm(f"remove endpoint {name} from stack {s.stack.name} on {app.target.description}?", abort=True)
    took = deploy_stack(app, {PACKAGE_PARAMETER: "", DIGEST_PARAMETER: "", BASELINE_STATISTICS_PARAMETER: "",
                              BASELINE_CONSTRAINTS_PARAMETER: "", QUALITY_CONSTRAINTS_PARAMETER: ""}, yes=True)
    if describe(app, name) is not None:
        raise SagestackError(f"the stack deployed but endpoint {name} still exists (it is not the stack's; "
                             "delete it with the SageMaker API)")
    app.out.print(f"endpoint {name} removed ({render.seconds_text(took)})")
