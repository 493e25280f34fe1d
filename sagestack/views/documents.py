"""JSON documents the pipeline and the monitors write to S3 (evaluation.json, statistics.json...).

A document that is missing or not JSON reads as None: the views show what they can without it.
Reports written by a finished job never change, so `json(uri, keep=True)` reads one once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


class Documents:
    def __init__(self, client: Callable[[str], Any]):
        self.client = client
        self._lock = threading.Lock()
        self._kept: dict[str, Any] = {}

    def json(self, uri: str, keep: bool = False) -> Any:
        """The JSON document at an s3:// URI, or None when it is missing or not JSON."""
        if not uri.startswith("s3://"):
            return None
        with self._lock:
            if uri in self._kept:
                return self._kept[uri]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            found = json.loads(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, BotoCoreError, ValueError):
            return None
        if keep:
            with self._lock:
                self._kept[uri] = found
        return found
