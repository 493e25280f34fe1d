"""Which AWS service, region and wire protocol a raw request is for, as moto's dispatcher would decide.

Pure: a WSGI environ in, an `ApiCall` out (or None for a request for a service localcloud does
not check, which goes to moto untouched). The body is not read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from localcloud.api import models
from localcloud.api.models import Service

__all__ = ["DEFAULT_REGION", "ApiCall", "credential_scope", "identify"]

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class ApiCall:
    service: Service
    protocol: str
    """json | query | rest-json | rest-xml | cbor (CloudWatch's RPCv2: recognised, not decoded)."""
    region: str
    region_given: bool
    target: str | None = None
    """JSON protocol: the operation named by `X-Amz-Target`."""


def credential_scope(environ: dict) -> tuple[str, str] | None:
    """(region, signing name) from a SigV4 `Authorization` header or a presigned URL's `X-Amz-Credential`."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = ""
    marker = auth.find("Credential=")
    if marker >= 0:
        scope = auth[marker + len("Credential="):].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        scope = (parse_qs(environ["QUERY_STRING"]).get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    if len(parts) == 5 and parts[4] == "aws4_request":
        return parts[2], parts[3]
    return None


def identify(environ: dict, form: Callable[[], Mapping[str, str]]) -> ApiCall | None:
    """The service and protocol of a request to one of localcloud's services, else None.

    `form` reads an unsigned form-encoded request's fields, whose `Version` names a query-protocol
    service (it is only called for such requests).
    """
    path = environ.get("PATH_INFO", "") or "/"
    scope = credential_scope(environ)
    region, region_given = (scope[0], True) if scope else (DEFAULT_REGION, False)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target is not None:
        prefix, _, operation = target.partition(".")
        service = models.by_target_prefix(prefix)
        if service is None and scope:
            service = models.by_signing_name(scope[1], path)
        if service is None:
            return None
        return ApiCall(service, "json", region, region_given, operation)
    if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor":
        service = models.by_signing_name(scope[1], path) if scope else None
        return ApiCall(service, "cbor", region, region_given) if service else None
    if scope:
        service = models.by_signing_name(scope[1], path)
        if service is None:
            return None
        return ApiCall(service, service.protocol, region, region_given)
    # Unsigned: moto routes SageMaker Runtime by path and everything else it cannot place to S3.
    if path.startswith("/endpoints/"):
        return ApiCall(models.service("sagemaker-runtime"), "rest-json", region, region_given)
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        service = models.by_api_version(form().get("Version", ""))
        if service is not None:
            return ApiCall(service, "query", region, region_given)
    return ApiCall(models.service("s3"), "rest-xml", region, region_given)
