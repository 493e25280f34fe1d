"""The AWS API models localcloud checks requests against: botocore's own service definitions.

botocore ships, for every service, each operation's input shape with its types, lengths,
patterns, enums and required members: the same model AWS's front ends enforce. Loading one costs
tens of milliseconds, so models load on first use and stay cached.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel
from botocore.regions import EndpointResolver

__all__ = ["SERVICES", "Service", "by_api_version", "by_signing_name", "by_target_prefix", "moto_serves",
           "moto_serves_unsigned",            "region_known", "service"]

SERVICES = (
    "s3", "iam", "sts", "ssm", "kms", "sns", "sqs", "events", "cloudwatch", "logs",
    "cloudformation", "lambda", "application-autoscaling", "sagemaker", "sagemaker-runtime",
)
"""The services localcloud serves and checks (botocore names)."""

_loader = create_loader()  # botocore's data files only: no session, so no profile or config file is read
_lock = threading.Lock()


@dataclass(frozen=True)
class Service:
    """One service's model and the facts needed to recognise its requests."""

    name: str
    model: ServiceModel
    protocol: str
    """json | query | rest-json | rest-xml (what localcloud parses; CloudWatch's CBOR is not checked)."""

    def operation(self, name: str) -> OperationModel | None:
        """The operation called `name`, or None when the service has no such operation."""
        if name not in self._operation_names:
            return None
        return self.model.operation_model(name)

    @functools.cached_property
    def _operation_names(self) -> frozenset[str]:
        return frozenset(self.model.operation_names)


@functools.cache
def service(name: str) -> Service:
    """The model of a service localcloud serves (KeyError for any other)."""
    if name not in SERVICES:
        raise KeyError(name)
    with _lock:
        model = ServiceModel(_loader.load_service_model(name, "service-2"), service_name=name)
    protocols = model.metadata.get("protocols") or [model.protocol]
    # CloudWatch lists smithy-rpc-v2-cbor first; boto3 speaks its JSON protocol, which we check.
    protocol = next((p for p in protocols if p in ("json", "query", "rest-json", "rest-xml")), model.protocol)
    return Service(name, model, protocol)


@functools.cache
def _target_prefixes() -> dict[str, str]:
    out = {}
    for name in SERVICES:
        prefix = service(name).model.metadata.get("targetPrefix")
        if prefix:
            out[prefix] = name
    return out


def by_target_prefix(prefix: str) -> Service | None:
    """The JSON-protocol service whose `X-Amz-Target` prefix is `prefix` (e.g. `SageMaker`)."""
    name = _target_prefixes().get(prefix)
    return service(name) if name else None


def by_signing_name(signing_name: str, path: str) -> Service | None:
    """The service a SigV4 credential scope names; SageMaker Runtime shares `sagemaker`, told apart by path."""
    signing_name = signing_name.lower()
    if signing_name == "sagemaker":
        return service("sagemaker-runtime" if path.startswith("/endpoints/") else "sagemaker")
    name = _signing_names().get(signing_name)
    return service(name) if name else None


@functools.cache
def _signing_names() -> dict[str, str]:
    out = {}
    for name in SERVICES:
        if name != "sagemaker-runtime":
            out[service(name).model.signing_name] = name
    out["eventbridge"] = "events"
    return out


def moto_serves(signing_name: str) -> bool:
    """Whether moto has a backend for a service localcloud does not check (say, DynamoDB).

    moto places a signed request by building `<signing name>.<region>.amazonaws.com` and matching
    its backends' URL patterns; a name none matches would crash its dispatcher.
    """
    from moto.backend_index import backend_url_patterns
    from moto.moto_server.werkzeug_app import SIGNING_ALIASES

    if not signing_name or not signing_name.replace("-", "").isalnum():
        return False
    host = f"https://{SIGNING_ALIASES.get(signing_name, signing_name)}.us-east-1.amazonaws.com"
    return any(pattern.match(host) for _, pattern in backend_url_patterns)


def moto_serves_unsigned(target: str) -> bool:
    """Whether moto places an unsigned JSON request by its `X-Amz-Target` (only Cognito's public calls)."""
    from moto.moto_server.werkzeug_app import UNSIGNED_REQUESTS

    return target.partition(".")[0] in UNSIGNED_REQUESTS


def by_api_version(version: str) -> Service | None:
    """The query-protocol service whose API version is `version` (an unsigned request's `Version` field)."""
    for name in SERVICES:
        found = service(name)
        if found.protocol == "query" and found.model.api_version == version:
            return found
    return None


@functools.cache
def _regions(name: str | None) -> frozenset[str]:
    """The regions of a service; None (or a global service such as IAM) means every region of every partition."""
    with _lock:
        endpoints = _loader.load_data("endpoints")
    resolver = EndpointResolver(endpoints)
    regions: set[str] = set()
    if name is not None:
        for partition in resolver.get_available_partitions():
            regions.update(resolver.get_available_endpoints(name, partition))
    if not regions:
        for partition in endpoints["partitions"]:
            regions.update(partition["regions"])
    return frozenset(regions)


def region_known(name: str | None, region: str) -> bool:
    """Whether `region` exists for service `name` (the same list moto's backends are created from)."""
    return region in _regions(name)
