"""EventBridge events SageMaker emits, sent through the AWS API like AWS itself would.

Events are queued and delivered by one background thread: the API call that caused
them returns at once, and the order of changes is kept.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import UTC, datetime
from typing import Any

from localcloud import aws

log = logging.getLogger("localcloud.events")

_queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()


def publish(region: str, entry: dict[str, Any]) -> None:
    """Queue one PutEvents entry for delivery."""
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_deliver, name="eventbridge-delivery", daemon=True)
            _worker.start()
    _queue.put((region, entry))


def _deliver() -> None:
    while True:
        region, entry = _queue.get()
        try:
            failed = aws.client("events", region).put_events(Entries=[entry]).get("FailedEntryCount", 0)
            if failed:
                log.warning("EventBridge refused event %s", entry.get("DetailType"))
        except Exception:  # delivery problems are logged, never fatal to the API call
            log.exception("could not deliver event %s", entry.get("DetailType"))


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
    publish(region, {
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
