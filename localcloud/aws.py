"""boto3 clients for the execution side of localcloud.

Jobs, endpoints and alarm evaluation reach S3, CloudWatch, CloudWatch Logs, SNS and
EventBridge the way a real container would: through the AWS API at an endpoint URL.
They never touch moto's backends directly, so the same executor can run beside any
AWS-compatible endpoint (this server, LocalStack, or AWS itself).

In backplane mode (`--backplane URL`) that endpoint is another emulator (LocalStack): only
SageMaker and SageMaker Runtime stay here, at localcloud's own URL. The account is the same on
both sides: LocalStack takes a 12-digit access key as the account id, so execution signs with
the account id as its access key.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

ENDPOINT_ENV = "LOCALCLOUD_AWS_ENDPOINT"
"""Where execution sends its AWS calls; the server sets it to its own URL at start, or to the backplane."""
SELF_ENV = "LOCALCLOUD_SELF_URL"
"""localcloud's own URL, where SageMaker calls go (the server sets it at start)."""
OWN_SERVICES = frozenset({"sagemaker", "sagemaker-runtime"})
"""What localcloud always serves itself, backplane or not."""

ACCOUNT_ID = "123456789012"

_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def endpoint_url() -> str:
    """The AWS endpoint that execution talks to."""
    return os.environ.get(ENDPOINT_ENV, "http://127.0.0.1:4566")


def self_url() -> str:
    """localcloud's own URL (the same as endpoint_url() unless there is a backplane)."""
    return os.environ.get(SELF_ENV) or endpoint_url()


def backplane() -> str | None:
    """The backplane's URL in backplane mode, else None."""
    own = os.environ.get(SELF_ENV)
    return endpoint_url() if own and own != endpoint_url() else None


def url_for(service: str) -> str:
    """Where calls to `service` go: SageMaker here, everything else to the endpoint (maybe the backplane)."""
    return self_url() if service in OWN_SERVICES else endpoint_url()


def client(service: str, region: str = "us-east-1") -> Any:
    """A cached, thread-safe boto3 client for `service` at the configured endpoint.

    Client creation costs tens of milliseconds, which would dominate per-step overhead
    if every job made its own; botocore clients are safe to share across threads.
    """
    url = url_for(service)
    key = (service, region, url)
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = boto3.session.Session().client(
                service,
                endpoint_url=url,
                region_name=region,
                aws_access_key_id=ACCOUNT_ID,  # any key works here; LocalStack reads this one as the account
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
            )
            _clients[key] = found
        return found
