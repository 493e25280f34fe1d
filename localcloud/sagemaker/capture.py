"""Endpoint data capture in SageMaker's S3 layout and JSON Lines format.

`{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`, one
line per captured request. Lines are buffered and written as one object per endpoint,
variant and hour every second, like SageMaker's periodic capture files.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud import aws
from localcloud.batching import BatchSink

_TEXT_DEFAULTS = {"CSV": ("text/csv",), "JSON": ("application/json",)}


@dataclass(frozen=True)
class Captured:
    region: str
    bucket: str
    prefix: str
    line: str


def should_capture(config: dict[str, Any] | None) -> bool:
    if not config or not config.get("EnableCapture", True):
        return False
    percentage = float(config.get("InitialSamplingPercentage", 100))
    return percentage >= 100 or random.random() * 100 < percentage


def _encoding(content_type: str, body: bytes, config: dict[str, Any]) -> tuple[str, str]:
    """How SageMaker writes a payload: as text for CSV/JSON types, base64 otherwise."""
    headers = config.get("CaptureContentTypeHeader") or {}
    csv_types = tuple(headers.get("CsvContentTypes") or _TEXT_DEFAULTS["CSV"])
    json_types = tuple(headers.get("JsonContentTypes") or _TEXT_DEFAULTS["JSON"])
    kind = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "BASE64", base64.b64encode(body).decode()
    if kind in csv_types:
        return "CSV", text
    if kind in json_types:
        return "JSON", text
    return "BASE64", base64.b64encode(body).decode()


def record(region: str, config: dict[str, Any], endpoint: str, variant: str, request_body: bytes,
           request_type: str, response_body: bytes, response_type: str, inference_id: str | None) -> None:
    """Queue one capture line for the endpoint's DataCaptureConfig."""
    modes = {o.get("CaptureMode") for o in config.get("CaptureOptions") or []} or {"Input", "Output"}
    now = datetime.now(UTC)
    data: dict[str, Any] = {}
    if "Input" in modes:
        encoding, payload = _encoding(request_type, request_body, config)
        data["endpointInput"] = {"observedContentType": request_type, "mode": "INPUT", "data": payload,
                                 "encoding": encoding}
    if "Output" in modes:
        encoding, payload = _encoding(response_type, response_body, config)
        data["endpointOutput"] = {"observedContentType": response_type, "mode": "OUTPUT", "data": payload,
                                  "encoding": encoding}
    metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        metadata["inferenceId"] = inference_id
    line = json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"},
                      separators=(",", ":"))
    bucket, _, base = config["DestinationS3Uri"].removeprefix("s3://").partition("/")
    prefix = "/".join(p for p in (base.strip("/"), endpoint, variant, now.strftime("%Y/%m/%d/%H")) if p)
    sink.add(Captured(region, bucket, prefix, line))


def _ship(items: list[Captured]) -> None:
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for item in items:
        grouped[(item.region, item.bucket, item.prefix)].append(item.line)
    for (region, bucket, prefix), lines in grouped.items():
        now = datetime.now(UTC)
        name = f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        aws.client("s3", region).put_object(Bucket=bucket, Key=f"{prefix}/{name}",
                                            Body=("\n".join(lines) + "\n").encode())


sink: BatchSink[Captured] = BatchSink("sagemaker-data-capture", _ship)
