"""`sagestack deploy`, `destroy` and `names`: the stack every other command works in.

Why a deploy command on top of `npx cdk deploy`: it picks the stage's stack, bootstraps a
fresh localcloud first (a local account has nothing yet), points the CDK CLI at the CLI's
target with the target's credential rules (cdk.py), and is the one step `endpoint deploy`
builds on to change which model the stack serves. Users who prefer the CDK CLI itself get
the same result with `npx cdk deploy`.

`destroy` empties the stack's buckets first when its stage does not retain data: like AWS,
CloudFormation (localcloud's too) refuses to delete a bucket that holds objects, so a plain
`cdk destroy` of a stack that has run would fail on its buckets.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from infra import outputs
from infra.config import STAGES as STAGE_CONFIGS
from sagestack import cdk, render
from sagestack.context import App, pass_app
from sagestack.settings import describe_stack, stack_name
from sagestack.target import LOCAL_ACCOUNT


def deploy_stack(app: App, parameters: dict[str, str] | None = None, yes: bool = False,
                 approval_function: bool | None = None) -> float:
    """`cdk deploy` of the stage's stack with these parameter values; returns the seconds it took.

    Parameters not given keep their deployed values (the CDK CLI's default), so deploying an
    infrastructure change keeps serving the model that was served. Likewise a stack deployed
    without its approval function stays without it unless `approval_function` says otherwise.
    """
    started = time.monotonic()
    stage, target = app.stage, app.target
    name = stack_name(stage)
    if approval_function is None:
        deployed = app.settings.stack
        approval_function = not deployed.exists or bool((deployed.outputs or {}).get(outputs.DEPLOYER_FUNCTION))
    local = not target.aws
    show = (lambda line: app.err.print(line, markup=False, highlight=False)) if local or yes else None
    if local and not describe_stack(app.client("cloudformation"), cdk.TOOLKIT_STACK).exists:
        app.err.print(f"bootstrapping {target.description} for the CDK (once per localcloud)")
        cdk.bootstrap(target, f"aws://{LOCAL_ACCOUNT}/{target.region_name}", show)
    args = ["deploy", name, *cdk.stage_args(stage, approval_function), "--require-approval",
            "never" if local or yes else "broadening"]
    for key, value in (parameters or {}).items():
        args += ["--parameters", f"{key}={value}"]
    app.err.print(f"deploying stack {name} to {target.description} with the CDK CLI")
    cdk.run(target, args, show)
    app.forget_settings()
    return time.monotonic() - started


@click.command()
@click.option("--yes", "-y", is_flag=True,
              help="With --aws, deploy without asking about security-relevant changes (cdk --require-approval never).")
@click.option("--approval-function/--no-approval-function", default=None,
              help="Include the function that deploys approved models [default: as deployed; included in a new stack]. "
                   "Leave it out where Lambda functions cannot run (LocalStack without Docker); "
                   "`sagestack endpoint deploy` then deploys models.")
@pass_app
def deploy(app: App, yes: bool, approval_function: bool | None) -> None:
    """Deploy the stack (infra/, with `cdk deploy`): buckets, roles, pipeline, registry, alarms, alerts, rules.

    Locally, a fresh localcloud is bootstrapped first. The model the endpoint serves is kept;
    `sagestack endpoint deploy` changes it.
    """
    took = deploy_stack(app, yes=yes, approval_function=approval_function)
    s = app.settings
    app.out.print(f"stack {s.stack.name} is {s.stack.status} on {app.target.description} "
                  f"({render.seconds_text(took)}); pipeline {s.need('pipeline_name')}, data goes to "
                  f"{s.need('input_data_uri')}")


def _empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker in `bucket`; the number deleted."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
        deleted += len(doomed)
    return deleted


def _deleted_buckets(cloudformation: Any, name: str) -> list[str]:
    """The stack's buckets that its deletion deletes (a retained one, such as the access logs, keeps its data)."""
    body = cloudformation.get_template(StackName=name)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    retained = {logical for logical, r in (template.get("Resources") or {}).items()
                if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")}
    resources = cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
    return [r["PhysicalResourceId"] for page in resources for r in page["StackResourceSummaries"]
            if r["ResourceType"] == "AWS::S3::Bucket" and r.get("PhysicalResourceId")
            and r["LogicalResourceId"] not in retained and r["ResourceStatus"] != "DELETE_COMPLETE"]


@click.command()
@click.option("--yes", "-y", is_flag=True, help="With --aws, do not ask for confirmation.")
@pass_app
def destroy(app: App, yes: bool) -> None:
    """Delete the stack (`cdk destroy`), emptying its buckets first unless its stage retains data.

    The model package group and the access logs are kept (the registry's history, the record of
    data access); prod keeps its buckets and key too.
    """
    stage, target = app.stage, app.target
    name = stack_name(stage)
    cloudformation = app.client("cloudformation")
    if not describe_stack(cloudformation, name).exists:
        app.out.print(f"stack {name} is not deployed on {target.description}")
        return
    retain = STAGE_CONFIGS[stage].retain_data
    if target.aws and not yes:
        what = "its buckets and key are kept" if retain else "its buckets are emptied first"
        click.confirm(f"destroy stack {name} on {target.description} ({what})?", abort=True)
    started = time.monotonic()
    if not retain:
        buckets = _deleted_buckets(cloudformation, name)
        for bucket in buckets:
            count = _empty_bucket(app.s3, bucket)
            if count:
                app.err.print(f"emptied bucket {bucket} ({count} object version(s))")
    cdk.run(target, ["destroy", name, *cdk.stage_args(stage), "--force"],
            lambda line: app.err.print(line, markup=False, highlight=False))
    app.forget_settings()
    app.out.print(f"stack {name} destroyed ({render.seconds_text(time.monotonic() - started)})")


@click.command()
@pass_app
def names(app: App) -> None:
    """Show the names the commands use and where each comes from (the stack's outputs, or an override)."""
    s = app.settings
    table = render.table("setting", "value", "from", title=f"stage {s.stage} on {app.target.description}")
    table.add_row("stack", s.stack.name, s.stack.status or "not deployed")
    for setting, value, source in s.sources():
        table.add_row(setting, value, source)
    app.out.print(table)
