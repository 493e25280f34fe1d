"""Where a TemplateURL points: every form of S3 URL an SDK or the CDK CLI produces, mapped to bucket and key.

moto understands `localhost` and `*.amazonaws.com` URLs; the CDK CLI pointed at
`AWS_ENDPOINT_URL=http://127.0.0.1:4566` uploads templates and then names them by that IP, in
path style. Virtual-hosted names (`bucket.s3.amazonaws.com`, `bucket.localhost`) are understood too.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from localcloud.guard import is_loopback_name

__all__ = ["TemplateUrlError", "bucket_and_key"]

_S3_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:[.-](?:dualstack\.)?(?P<region>[a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?$")


class TemplateUrlError(ValueError):
    """The URL names no S3 object; the message is CloudFormation's ValidationError text."""


def bucket_and_key(url: str) -> tuple[str, str]:
    """The bucket and key a TemplateURL names."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise TemplateUrlError("TemplateURL must be a supported URL.") from None
    path = unquote(parts.path).lstrip("/")
    if parts.scheme not in ("http", "https") or not host:
        raise TemplateUrlError("TemplateURL must be a supported URL.")
    found = _S3_HOST.match(host)
    if found and found.group("bucket"):
        bucket, key = found.group("bucket"), path
    elif found or (is_loopback_name(host) and not host.endswith(".localhost")):
        bucket, _, key = path.partition("/")
    elif host.endswith(".localhost"):
        bucket, key = host[: -len(".localhost")], path
    else:
        raise TemplateUrlError(f"TemplateURL must be an Amazon S3 URL, not one on {host}.")
    if not bucket or not key:
        raise TemplateUrlError("TemplateURL must name a bucket and an object key.")
    return bucket, key
