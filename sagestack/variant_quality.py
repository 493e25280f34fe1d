"""Model quality per production variant: its captured predictions joined with the ground truth.

Data capture writes each variant's requests and answers under `<capture uri>/<endpoint>/<variant>/
yyyy/mm/dd/hh/`, one JSON line per request with the InferenceId the caller gave; labels arrive
later under the stack's ground-truth URI, in hour folders, one JSON line per label whose eventId
is that InferenceId (Model Monitor's formats). Joining them by that id gives each variant's
prediction errors over the requests that have a label, which is what an A/B comparison of model
quality needs. Everything is read from S3, so this works on AWS as it does locally.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any


def _hours(since: datetime, until: datetime) -> list[str]:
    """The yyyy/mm/dd/hh folders from `since` to `until`, both included."""
    hour, found = since.replace(minute=0, second=0, microsecond=0), []
    while hour <= until:
        found.append(f"{hour:%Y/%m/%d/%H}")
        hour += timedelta(hours=1)
    return found


def _lines(s3: Any, uri: str, hours: list[str]) -> Iterator[dict[str, Any]]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    for hour in hours:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix.rstrip('/')}/{hour}/")
        for page in pages:
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace")
                for line in body.splitlines():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield record


def _number(field: dict[str, Any] | None) -> float | None:
    """The first value of a captured answer or a label (a regression's prediction), or None.

    Answers are captured as sent (CSV or JSON: a number, a list, or {"predictions": [...]}),
    base64-encoded when their content type was neither (Model Monitor's `encoding`).
    """
    if not field:
        return None
    text = str(field.get("data", ""))
    if field.get("encoding") == "BASE64":
        try:
            text = base64.b64decode(text).decode("utf-8", "replace")
        except ValueError:
            return None
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text.strip().splitlines()[0].split(",")[0] if text.strip() else None
    while isinstance(value, dict | list):
        value = value.get("predictions") if isinstance(value, dict) else (value[0] if value else None)
        if isinstance(value, dict):
            value = next(iter(value.values()), None)
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def labels(s3: Any, ground_truth_uri: str, since: datetime, until: datetime) -> dict[str, float]:
    """InferenceId -> the true value, from the ground truth uploaded in the hours from `since` to `until`."""
    found = {}
    for record in _lines(s3, ground_truth_uri, _hours(since, until)):
        event = (record.get("eventMetadata") or {}).get("eventId")
        value = _number(record.get("groundTruthData"))
        if event and value is not None:
            found[str(event)] = value
    return found


def errors(s3: Any, capture_uri: str, endpoint: str, variant: str, truth: dict[str, float], since: datetime,
           until: datetime) -> list[float]:
    """The variant's prediction errors (prediction - truth) on captured requests that have a label."""
    found = []
    for record in _lines(s3, f"{capture_uri.rstrip('/')}/{endpoint}/{variant}", _hours(since, until)):
        inference = (record.get("eventMetadata") or {}).get("inferenceId")
        predicted = _number((record.get("captureData") or {}).get("endpointOutput"))
        if inference in truth and predicted is not None:
            found.append(predicted - truth[str(inference)])
    return found
