"""Backplane mode: localcloud serves SageMaker; another emulator (LocalStack) serves the rest.

Many teams already run LocalStack for S3, CloudWatch, SNS, SQS and EventBridge, but its free
runtime has no SageMaker. With `--backplane URL` localcloud answers only SageMaker and SageMaker
Runtime; its jobs, pipelines, endpoints and monitors keep their data and metrics in the
backplane (through `localcloud.aws`, which sends every other service there), so pipeline
artifacts land in LocalStack's S3, endpoint and monitor metrics in LocalStack's CloudWatch, and
LocalStack's own alarm evaluator fires the alerts. Tools address SageMaker here with
`AWS_ENDPOINT_URL_SAGEMAKER` / `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` and everything else there
with `AWS_ENDPOINT_URL`. A request for another service reaching localcloud is refused with a
message that says where that service lives.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from localcloud.api.errors import ApiError

__all__ = ["check_url", "greet", "refusal"]

log = logging.getLogger("localcloud.backplane")


def check_url(url: str) -> str:
    """The backplane's URL without a trailing slash; ValueError when it is not an http(s) URL of a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL of a host, such as http://127.0.0.1:4566")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r} must be the emulator's base URL, without a path or query")
    return f"{parts.scheme}://{parts.netloc}"


def greet(url: str, timeout: float = 2.0) -> None:
    """Log whether the backplane answers now (it may start later: execution retries its calls)."""
    for path in ("/_localstack/health", "/_localcloud/health"):
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=timeout) as answer:
                if answer.status == 200:
                    log.info("backplane %s answers (%s): SageMaker is served here, everything else there", url, path)
                    return
        except (urllib.error.URLError, OSError, ValueError):
            continue
    log.warning("backplane %s does not answer yet; jobs and endpoints will fail until it does", url)


def refusal(service_id: str, url: str) -> ApiError:
    """The answer to a request for a service the backplane serves."""
    return ApiError(501, "NotImplemented",
                    f"this localcloud serves SageMaker only (backplane mode): {service_id} is at {url}; set "
                    f"AWS_ENDPOINT_URL={url} and AWS_ENDPOINT_URL_SAGEMAKER / "
                    f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME to this localcloud", sender=False)
