"""`sagestack model list/approve/reject` on model packages created with plain boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import SKLEARN_IMAGE, Names, invoke
from support import LocalCloud


def _package(sm: Any, group: str, metrics_uri: str | None = None) -> str:
    kwargs: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {"Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": "PendingManualApproval",
    }
    if metrics_uri:
        kwargs["ModelMetrics"] = {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                                  "S3Uri": metrics_uri}}}
    return str(sm.create_model_package(**kwargs)["ModelPackageArn"])


@pytest.fixture(scope="module")
def registry(localcloud: LocalCloud) -> Iterator[tuple[Names, list[str]]]:
    """A group with three packages; version 2 carries an evaluation report, version 3 a broken link."""
    names = Names()
    sm, s3 = localcloud.client("sagemaker"), localcloud.client("s3")
    s3.create_bucket(Bucket=names.bucket)
    report = {"regression_metrics": {"rmse": {"value": 4.25, "standard_deviation": 0.1},
                                     "mae": {"value": 2.5}, "r2": {"value": 0.875}}}
    s3.put_object(Bucket=names.bucket, Key="eval/evaluation.json", Body=json.dumps(report).encode())
    sm.create_model_package_group(ModelPackageGroupName=names.group)
    arns = [_package(sm, names.group), _package(sm, names.group, f"s3://{names.bucket}/eval/evaluation.json"),
            _package(sm, names.group, f"s3://{names.bucket}/eval/missing.json")]
    yield names, arns


def _approval(localcloud: LocalCloud, arn: str) -> str:
    return str(localcloud.client("sagemaker").describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"])


def _rows(output: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell."""
    return {line.split()[0]: line.split() for line in output.splitlines() if line.strip()[:1].isdigit()}


def test_list_shows_versions_statuses_and_metrics(localcloud: LocalCloud, registry: tuple[Names, list[str]]) -> None:
    names, _ = registry
    result = invoke([*names.options(localcloud.url), "model", "list"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert list(rows) == ["3", "2", "1"]  # newest first
    assert rows["2"][1:3] == ["Completed", "PendingManualApproval"]
    assert rows["2"][-3:] == ["4.25", "2.5", "0.875"]  # RMSE, MAE, R²
    assert rows["3"][-3:] == ["-", "-", "-"]  # a report that cannot be read is not an error
    assert rows["1"][-3:] == ["-", "-", "-"]
    quick = invoke([*names.options(localcloud.url), "model", "list", "--no-metrics", "--max", "1"])
    assert list(_rows(quick.stdout)) == ["3"]
    assert "RMSE" not in quick.stdout


def test_approve_and_reject_by_version_and_latest(localcloud: LocalCloud, registry: tuple[Names, list[str]]) -> None:
    names, arns = registry
    result = invoke([*names.options(localcloud.url), "model", "approve", "2", "-m", "rmse 4.25 beats prod"])
    assert result.exit_code == 0, result.output
    assert f"model package {names.group} version 2: Approved (was PendingManualApproval)" in result.stdout
    assert _approval(localcloud, arns[1]) == "Approved"
    described = localcloud.client("sagemaker").describe_model_package(ModelPackageName=arns[1])
    assert described["ApprovalDescription"] == "rmse 4.25 beats prod"

    result = invoke([*names.options(localcloud.url), "model", "reject"])  # latest = version 3
    assert result.exit_code == 0, result.output
    assert "version 3: Rejected" in result.stdout
    assert [_approval(localcloud, a) for a in arns] == ["PendingManualApproval", "Approved", "Rejected"]

    again = invoke([*names.options(localcloud.url), "model", "reject", arns[2]])  # by ARN, idempotent
    assert again.exit_code == 0
    assert "version 3: Rejected (unchanged)" in again.stdout


def test_unknown_version_and_group_are_one_line_errors(localcloud: LocalCloud,
                                                       registry: tuple[Names, list[str]]) -> None:
    names, _ = registry
    result = invoke([*names.options(localcloud.url), "model", "approve", "9"])
    assert result.exit_code == 1
    assert result.stderr == f"error: model package group {names.group!r} has no version 9 (it has: 3, 2, 1)\n"
    result = invoke([*names.options(localcloud.url), "model", "approve", "two"])
    assert result.exit_code == 1
    assert "'two' is not a version number, `latest` or a model package ARN" in result.stderr
    result = invoke(["--endpoint-url", localcloud.url, "--model-package-group", "nobody-here", "model", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model package group 'nobody-here' does not exist")
