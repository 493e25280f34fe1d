"""EventBridge events SageMaker emits, sent through the AWS API like AWS itself would (`localcloud.delivery`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from localcloud.delivery import publish_event


def model_package_changed(package: Any, region: str) -> None:
    """`SageMaker Model Package State Change`, as AWS sends on create and on approval changes."""
    detail = {
        "ModelPackageGroupName": package.model_package_group_name,
        "ModelPackageVersion": package.model_package_version,
        "ModelPackageArn": package.arn,
        "ModelPackageName": package.model_package_name,
        "ModelApprovalStatus": package.model_approval_status,
        "ModelPackageStatus": getattr(package, "model_package_status", "Completed"),
        "CreationTime": _millis(getattr(package, "creation_time", None)),
        "LastModifiedTime": _millis(getattr(package, "last_modified_time", None)),
        "InferenceSpecification": getattr(package, "inference_specification", None),
        "ModelMetrics": getattr(package, "model_metrics", None),
        "CustomerMetadataProperties": getattr(package, "customer_metadata_properties", None),
    }
    publish_event(region, {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps({k: v for k, v in detail.items() if v is not None}, default=str),
        "Resources": [package.arn],
        "Time": datetime.now(UTC),
    })


def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value
