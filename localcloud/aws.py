"""boto3 clients for the execution side of localcloud.

Jobs, endpoints and alarm evaluation reach S3, CloudWatch, CloudWatch Logs, SNS and
EventBridge the way a real container would: through the AWS API at an endpoint URL.
They never touch moto's backends directly, so the same executor can run beside any
AWS-compatible endpoint (this server, LocalStack, or AWS itself).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

ENDPOINT_ENV = "LOCALCLOUD_AWS_ENDPOINT"
"""Where execution sends its AWS calls; the server sets it to its own URL at start."""

ACCOUNT_ID = "123456789012"

_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def endpoint_url() -> str:
    """The AWS endpoint that execution talks to."""
    return os.environ.get(ENDPOINT_ENV, "http://127.0.0.1:4566")


def client(service: str, region: str = "us-east-1") -> Any:
    """A cached, thread-safe boto3 client for `service` at the configured endpoint.

    Client creation costs tens of milliseconds, which would dominate per-step overhead
    if every job made its own; botocore clients are safe to share across threads.
    """
    url = endpoint_url()
    key = (service, region, url)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = boto3.session.Session().client(
                service,
                endpoint_url=url,
                region_name=region,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
            )
            _clients[key] = found
        return found
