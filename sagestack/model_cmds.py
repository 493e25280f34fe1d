"""`sagestack model ...`: the model registry as a person uses it: review, approve, reject.

Why approval is a command of its own: the pipeline registers every model that passes the
quality gate as PendingManualApproval; a person (or a trusted automation) decides what may
be deployed. Approving a package of the stack's group deploys it: the stack's rule invokes its
deploying function (infra/approvals.py), which updates the stack, whose endpoint takes the new
model through a canary with automatic rollback. `model approve` follows that deployment to its
end (the function's verdict, then the endpoint's phases), so that approving is one step for
a person; `endpoint deploy` remains for deploying any Approved version by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.console import RenderableType

from infra import outputs
from sagestack import approvals, registry, render
from sagestack.context import App, pass_app

METRIC_COLUMNS = ("rmse", "mae", "r2")


@click.group()
def model() -> None:
    """Model packages of the group: list, approve, reject."""


@model.command("list")
@click.option("--metrics/--no-metrics", default=True, show_default=True,
              help="Read each package's evaluation report for its metrics.")
@click.option("--max", "limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show at most this many packages (newest first).")
@pass_app
def list_packages(app: App, metrics: bool, limit: int) -> None:
    """List the group's model packages: version, status, approval, metrics."""
    group = app.settings.need("model_package_group")
    registry.ensure_group(app.sagemaker, group)
    found = registry.packages(app.sagemaker, group)[:limit]
    if not found:
        app.out.print(f"model package group {group} has no model packages yet")
        return
    columns = ["Version", "Status", "Approval", "Created"]
    if metrics:
        columns += [name.upper() if name != "r2" else "R²" for name in METRIC_COLUMNS]
    table = render.table(*columns, title=f"model package group {group}")
    for package in found:
        row: list[RenderableType] = [
            str(package.get("ModelPackageVersion", "?")), render.status_text(package.get("ModelPackageStatus")),
            render.status_text(package.get("ModelApprovalStatus")), render.clock(package.get("CreationTime"))]
        if metrics:
            values = registry.evaluation_metrics(app.sagemaker, app.s3, package["ModelPackageArn"])
            row += [render.metric(values.get(name)) for name in METRIC_COLUMNS]
        table.add_row(*row)
    app.out.print(table)


def _set_approval(app: App, which: str, status: str, description: str | None) -> dict[str, Any]:
    package = registry.resolve(app.sagemaker, app.settings.need("model_package_group"), which)
    arn = package["ModelPackageArn"]
    previous = package.get("ModelApprovalStatus", "?")
    kwargs = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    if description:
        kwargs["ApprovalDescription"] = description
    app.sagemaker.update_model_package(**kwargs)
    version = package.get("ModelPackageVersion", render.short_id(arn))
    change = "unchanged" if previous == status else f"was {previous}"
    app.out.print(f"model package {package.get('ModelPackageGroupName', '')} version {version}: {status} ({change})")
    return package


_WHICH = click.argument("which", default=registry.LATEST, metavar="[VERSION|latest|ARN]")
_DESCRIPTION = click.option("--description", "-m", help="Why (kept as the package's ApprovalDescription).")


@model.command()
@_WHICH
@_DESCRIPTION
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the deployment the approval starts until the endpoint serves the model or rolled back.")
@pass_app
def approve(app: App, which: str, description: str | None, wait: bool) -> None:
    """Approve a model package (default: the latest version); the stack then deploys it, guarded."""
    started = datetime.now(UTC)
    package = _set_approval(app, which, "Approved", description)
    s = app.settings
    if not s.deployer_function or package.get("ModelPackageGroupName") != (s.stack.outputs or {}).get(
            outputs.MODEL_PACKAGE_GROUP):
        return
    version = package.get("ModelPackageVersion", "?")
    if not wait:
        app.out.print(f"the stack deploys it ({s.deployer_function}); follow with `sagestack endpoint status`")
        return
    approvals.follow(app, package["ModelPackageArn"], version, started)


@model.command()
@_WHICH
@_DESCRIPTION
@pass_app
def reject(app: App, which: str, description: str | None) -> None:
    """Reject a model package (default: the latest version)."""
    _set_approval(app, which, "Rejected", description)
