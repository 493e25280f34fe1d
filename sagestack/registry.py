"""Finding model packages in the group: by version, the latest, the latest approved; their metrics.

Why here and not in the commands: `model approve latest` and `endpoint deploy` must agree
on what "latest" means (the highest version number, which is also the newest), and the
metrics shown by `model list` come from the evaluation report the package points at
(`ModelMetrics.ModelQuality.Statistics`), which may be missing or unreadable without that
being an error.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.deploy_approved_model import release
from sagestack.errors import SagestackError, is_not_found

LATEST = "latest"


def packages(sagemaker: Any, group: str, approval: str | None = None) -> list[dict[str, Any]]:
    """The group's package summaries, highest version first (optionally one approval status only)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending",
                              "MaxResults": 100}
    if approval:
        kwargs["ModelApprovalStatus"] = approval
    while True:
        page = sagemaker.list_model_packages(**kwargs)
        found.extend(page.get("ModelPackageSummaryList", []))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    found.sort(key=lambda p: int(p.get("ModelPackageVersion") or 0), reverse=True)
    return found


def served_packages(sagemaker: Any, endpoint_config: str) -> dict[str, str]:
    """Variant name -> the model package ARN it serves, for the variants of `endpoint_config` built from
    packages (a model made from an image and artifact directly serves no package)."""
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint_config)
    found = {}
    for variant in config.get("ProductionVariants", []):
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        for container in [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]:
            if container.get("ModelPackageName"):
                found[str(variant["VariantName"])] = str(container["ModelPackageName"])
    return found


def ensure_group(sagemaker: Any, group: str) -> None:
    """Fail with a clear line when the group does not exist (AWS would answer with an empty list)."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as e:
        if is_not_found(e):
            raise SagestackError(
                f"model package group {group!r} does not exist (run the pipeline: `sagestack pipeline start`)"
            ) from None
        raise


def resolve(sagemaker: Any, group: str, which: str) -> dict[str, Any]:
    """The summary of package `which`: a version number, `latest`, or a model package ARN."""
    if which.startswith("arn:"):
        return sagemaker.describe_model_package(ModelPackageName=which)
    ensure_group(sagemaker, group)
    found = packages(sagemaker, group)
    if not found:
        raise SagestackError(f"model package group {group!r} has no model packages yet")
    if which == LATEST:
        return found[0]
    try:
        version = int(which)
    except ValueError:
        raise SagestackError(f"{which!r} is not a version number, `latest` or a model package ARN") from None
    for package in found:
        if int(package.get("ModelPackageVersion") or 0) == version:
            return package
    versions = ", ".join(str(p.get("ModelPackageVersion")) for p in found[:20])
    raise SagestackError(f"model package group {group!r} has no version {version} (it has: {versions})")


def latest_approved(sagemaker: Any, group: str) -> dict[str, Any]:
    ensure_group(sagemaker, group)
    approved = packages(sagemaker, group, approval="Approved")
    if not approved:
        raise SagestackError(
            f"model package group {group!r} has no Approved package; approve one with `sagestack model approve`"
        )
    return approved[0]


def evaluation_metrics(sagemaker: Any, s3: Any, package_arn: str) -> dict[str, float]:
    """`{metric: value}` from the package's evaluation report, or {} when there is none to read.

    The report follows the SageMaker model-quality layout written by evaluate.py:
    `{"regression_metrics": {"rmse": {"value": ...}, ...}}`.
    """
    try:
        described = sagemaker.describe_model_package(ModelPackageName=package_arn)
        uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri", "")
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            return {}
        bucket, _, key = uri[len("s3://"):].partition("/")
        report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError, ValueError):
        return {}
    return metric_values(report)


def metric_values(report: Any) -> dict[str, float]:
    """{metric: value} of a report in the model-quality layout, every family flattened ({} if it is not one)."""
    metrics: dict[str, float] = {}
    for family in report.values() if isinstance(report, dict) else ():
        if not isinstance(family, dict):
            continue
        for name, entry in family.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, int | float):
                metrics[name] = float(value)
    return metrics


def model_pin(sagemaker: Any, package_arn: str) -> str | None:
    """The sha256 of model.joblib the package was registered with, or None if it records none.

    The pipeline writes the digest Evaluate verified both into the package's metadata and into
    its serving container's environment; the rules (they must agree) are the deploying function's
    (functions/deploy_approved_model/release.py), so the CLI and the stack serve the same packages.
    """
    try:
        return release.model_digest(sagemaker.describe_model_package(ModelPackageName=package_arn))
    except release.ReleaseError as e:
        raise SagestackError(str(e)) from None
