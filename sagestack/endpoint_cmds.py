"""`sagestack endpoint ...`: deploy the latest approved model, call it, inspect it, remove it.

Why deploy always makes a new model and endpoint config (named after the package version
and the time) instead of editing the live ones: SageMaker endpoint configs are immutable,
and a new config per deploy is what lets an update roll back to the previous fleet and
keeps a record of what was served when. Data capture is on by default, into the artifacts
bucket, because the drift monitor needs live traffic to compare with the baseline.
"""

from __future__ import annotations

import time
from typing import Any

import click
from botocore.exceptions import ClientError

from sagestack import progress, registry, render, storage
from sagestack.context import App, pass_app
from sagestack.errors import SagestackError, is_not_found

VARIANT = "AllTraffic"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
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


def served_packages(app: App, described: dict[str, Any]) -> list[str]:
    """The model package ARNs behind an endpoint's current config (empty if not from packages)."""
    config = app.sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    found = []
    for variant in config.get("ProductionVariants", []):
        model = app.sagemaker.describe_model(ModelName=variant["ModelName"])
        for container in [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]:
            if container.get("ModelPackageName"):
                found.append(container["ModelPackageName"])
    return found


def _resource_name(endpoint_name: str, version: Any) -> str:
    """`<endpoint>-v<version>-<UTC time>`, within SageMaker's 63 characters."""
    suffix = f"-v{version}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    return endpoint_name[: 63 - len(suffix)].rstrip("-") + suffix


def _approved_package(app: App, which: str | None) -> dict[str, Any]:
    group = app.settings.model_package_group
    if which is None:
        return registry.latest_approved(app.sagemaker, group)
    package = registry.resolve(app.sagemaker, group, which)
    if package.get("ModelApprovalStatus") != "Approved":
        raise SagestackError(f"model package version {package.get('ModelPackageVersion', which)} is "
                             f"{package.get('ModelApprovalStatus')}, not Approved; approve it first "
                             f"(`sagestack model approve {package.get('ModelPackageVersion', which)}`)")
    return package


def deployment_config(canary: int | None, alarms: tuple[str, ...], bake: int | None) -> dict[str, Any] | None:
    """Blue/green guardrails for UpdateEndpoint, or None to leave SageMaker's default (all at once)."""
    if canary is None and not alarms and bake is None:
        return None
    wait = 300 if bake is None else bake
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    if canary is not None:
        routing = {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary},
                   "WaitIntervalInSeconds": wait}
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                                        "TerminationWaitInSeconds": wait}}
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": alarm} for alarm in alarms]}
    return config


@endpoint.command()
@click.option("--version", "which", metavar="VERSION",
              help="Approved package version to deploy [default: the latest Approved].")
@click.option("--instance-type", default=DEFAULT_INSTANCE_TYPE, show_default=True)
@click.option("--instance-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--capture-percent", type=click.IntRange(0, 100), default=100, show_default=True,
              help="Share of requests captured to S3 for monitoring (0 turns capture off).")
@click.option("--canary", type=click.IntRange(1, 99), metavar="PERCENT",
              help="On update, shift this share of capacity first, then the rest after --bake seconds.")
@click.option("--rollback-alarm", "alarms", multiple=True, metavar="ALARM",
              help="On update, roll back if this CloudWatch alarm fires while baking (repeatable).")
@click.option("--bake", type=click.IntRange(0, 3600), metavar="SECONDS",
              help="On update, how long the old fleet is kept (and alarms watched) after the shift "
                   "[default: 300 with --canary/--rollback-alarm, else SageMaker's default].")
@click.option("--force", is_flag=True, help="Deploy even if the endpoint already serves this package.")
@click.option("--unpinned", is_flag=True,
              help="Deploy a package that records no model sha256 (its model.joblib is then not checked "
                   "against the registry).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the endpoint is InService.")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True, help="Seconds to wait.")
@pass_app
def deploy(app: App, which: str | None, instance_type: str, instance_count: int, capture_percent: int,
           canary: int | None, alarms: tuple[str, ...], bake: int | None, force: bool, unpinned: bool,
           wait: bool, timeout: float) -> None:
    """Deploy the latest Approved model package (create the endpoint, or update it to a new config).

    The endpoint's model server is given the sha256 of model.joblib that the package was
    registered with, and refuses to load any other artifact.
    """
    s = app.settings
    package = _approved_package(app, which)
    arn, version = package["ModelPackageArn"], package.get("ModelPackageVersion", "?")
    pin = registry.model_pin(app.sagemaker, arn)
    if pin is None and not unpinned:
        raise SagestackError(f"model package version {version} records no model sha256, so the endpoint could not "
                             f"check that it serves the registered artifact; register it with the pipeline, or "
                             f"deploy with --unpinned to accept that")
    existing = describe(app, s.endpoint_name)
    if existing:
        status = existing["EndpointStatus"]
        if status == "Failed":
            reason = render.one_line_reason(existing.get("FailureReason", ""))
            raise SagestackError(f"endpoint {s.endpoint_name} is Failed ({reason}); "
                                 "remove it with `sagestack endpoint delete` and deploy again")
        if status != "InService":
            raise SagestackError(f"endpoint {s.endpoint_name} is {status}; wait until it is InService "
                                 "(`sagestack endpoint status`)")
        if not force and served_packages(app, existing) == [arn]:
            app.out.print(f"endpoint {s.endpoint_name} already serves model package version {version} "
                          "(--force deploys it again)")
            return
    if capture_percent:
        storage.ensure_bucket(app)
    name = _resource_name(s.endpoint_name, version)
    container: dict[str, Any] = {"ModelPackageName": arn}
    if pin is not None:
        container["Environment"] = {registry.PIN_VARIABLE: pin}
    app.sagemaker.create_model(ModelName=name, ExecutionRoleArn=s.role_arn, PrimaryContainer=container)
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": VARIANT, "ModelName": name, "InstanceType": instance_type,
                                "InitialInstanceCount": instance_count, "InitialVariantWeight": 1.0}],
    }
    if capture_percent:
        config["DataCaptureConfig"] = {
            "EnableCapture": True, "InitialSamplingPercentage": capture_percent, "DestinationS3Uri": s.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": [CSV], "JsonContentTypes": [JSON]},
        }
    app.sagemaker.create_endpoint_config(**config)
    if existing:
        update: dict[str, Any] = {"EndpointName": s.endpoint_name, "EndpointConfigName": name}
        guardrails = deployment_config(canary, alarms, bake)
        if guardrails:
            update["DeploymentConfig"] = guardrails
        app.sagemaker.update_endpoint(**update)
        action = "updating"
    else:
        app.sagemaker.create_endpoint(EndpointName=s.endpoint_name, EndpointConfigName=name)
        action = "creating"
    app.out.print(f"{action} endpoint {s.endpoint_name}: model package version {version}, config {name}"
                  + (f", capture {capture_percent}% to {s.capture_uri}" if capture_percent else ""))
    if not wait:
        return
    try:
        final = progress.wait_endpoint(app.out, app.sagemaker, s.endpoint_name, timeout=timeout)
    except TimeoutError as e:
        raise SagestackError(f"endpoint {s.endpoint_name} {e}; follow it with `sagestack endpoint status`") from None
    if final["EndpointStatus"] == "Failed":
        reason = render.one_line_reason(final.get("FailureReason", ""), 300)
        raise SagestackError(f"endpoint {s.endpoint_name} Failed: {reason}")
    if final["EndpointStatus"] == "InService" and final.get("EndpointConfigName") != name:
        reason = render.one_line_reason(final.get("FailureReason") or "no reason given")
        raise SagestackError(f"the update of endpoint {s.endpoint_name} was rolled back ({reason}); it still "
                             f"serves {final.get('EndpointConfigName')}")
    app.out.print(f"endpoint {s.endpoint_name} is {final['EndpointStatus']}, serving model package version {version}")


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
    kwargs: dict[str, Any] = {"EndpointName": app.settings.endpoint_name, "ContentType": kind, "Accept": accept or kind,
                              "Body": payload}
    if variant:
        kwargs["TargetVariant"] = variant
    response = app.client("sagemaker-runtime").invoke_endpoint(**kwargs)
    # Raw output (not rich): predictions are data, and JSON brackets must not be read as markup.
    click.echo(response["Body"].read().decode(errors="replace").rstrip("\n"))


@endpoint.command()
@pass_app
def status(app: App) -> None:
    """Show the endpoint's status and the model package it serves."""
    name = app.settings.endpoint_name
    described = describe(app, name)
    if described is None:
        raise SagestackError(f"endpoint {name} does not exist (deploy it with `sagestack endpoint deploy`)")
    table = render.table("", "", show_header=False)
    table.add_row("endpoint", name)
    table.add_row("status", render.status_text(described["EndpointStatus"]))
    table.add_row("config", described.get("EndpointConfigName", "-"))
    packages = served_packages(app, described) if described.get("EndpointConfigName") else []
    table.add_row("model packages", ", ".join(packages) or "-")
    table.add_row("created", render.clock(described.get("CreationTime")))
    table.add_row("last modified", render.clock(described.get("LastModifiedTime")))
    if described.get("FailureReason"):
        table.add_row("failure", render.one_line_reason(described["FailureReason"], 300))
    app.out.print(table)


@endpoint.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (only asked on --aws).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds to wait.")
@pass_app
def delete(app: App, yes: bool, timeout: float) -> None:
    """Delete the endpoint (its models and configs stay, as a record)."""
    name = app.settings.endpoint_name
    if describe(app, name) is None:
        app.out.print(f"endpoint {name} does not exist")
        return
    if app.target.aws and not yes:
        click.confirm(f"delete endpoint {name} on {app.target.description}?", abort=True)
    app.sagemaker.delete_endpoint(EndpointName=name)
    started = time.monotonic()
    with progress.spinner(app.out, f"deleting endpoint {name}:") as update:
        while describe(app, name) is not None:
            if time.monotonic() - started > timeout:
                raise SagestackError(f"endpoint {name} still exists after {timeout:.0f} s")
            update(render.seconds_text(time.monotonic() - started))
            time.sleep(1.0)
    app.out.print(f"endpoint {name} deleted")
