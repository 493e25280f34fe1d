"""Which AWS the CLI talks to, and the boto3 clients for it.

Why a separate, strict module: the same commands drive localcloud and real AWS, and the
one mistake that must never happen is reaching real AWS by accident (spending money,
touching production) because a shell happened to hold credentials or an endpoint
variable. So the two targets are built differently, not just with a different URL:

* local (the default): an explicit endpoint URL that must be a loopback address,
  placeholder credentials, and a botocore session that reads no profile, no config file
  and no credentials file, so nothing in `~/.aws` or `AWS_*` can redirect or sign the
  requests with real keys;
* AWS (`--aws`): the standard credential chain (profile, env, SSO, instance role...) and
  region, and configured endpoint URLs (`AWS_ENDPOINT_URL`, as printed by `sagestack up`)
  are ignored so that `--aws` really means AWS.

A local target may split in two (`--sagemaker-url`): SageMaker and SageMaker Runtime at
localcloud in backplane mode, everything else at the emulator behind it (LocalStack), both on
loopback. The placeholder access key is the local account's id: LocalStack reads a 12-digit
key as the account, so both emulators then agree on it (localcloud accepts any key).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config

from sagestack.errors import SagestackError

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:4566"
DEFAULT_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"  # moto's (and so localcloud's) account
LOCAL_KEY = LOCAL_ACCOUNT  # any credentials work on localcloud; LocalStack takes this one as the account
SAGEMAKER_SERVICES = ("sagemaker", "sagemaker-runtime")


def is_loopback_url(url: str) -> bool:
    """True when `url` is http(s) to localhost or a literal loopback address (no DNS lookup)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Target:
    """Where requests go: localcloud at `endpoint_url`, or real AWS when `aws` is set."""

    aws: bool = False
    endpoint_url: str | None = DEFAULT_ENDPOINT_URL
    region: str | None = None
    profile: str | None = None
    sagemaker_url: str | None = None
    """SageMaker's own URL when it is not `endpoint_url` (localcloud in backplane mode)."""

    @classmethod
    def build(cls, aws: bool, endpoint_url: str | None, region: str | None, profile: str | None,
              sagemaker_url: str | None = None) -> Target:
        """Validate the combination of options; refuse anything that could reach AWS unasked."""
        if aws:
            if endpoint_url or sagemaker_url:
                raise SagestackError(
                    "--aws and --endpoint-url / --sagemaker-url (or SAGESTACK_ENDPOINT_URL / SAGESTACK_SAGEMAKER_URL) "
                    "exclude each other: --aws talks to AWS's own endpoints"
                )
            return cls(aws=True, endpoint_url=None, region=region, profile=profile)
        if profile:
            raise SagestackError("--profile selects AWS credentials and is only used with --aws")
        url = (endpoint_url or DEFAULT_ENDPOINT_URL).rstrip("/")
        sagemaker = sagemaker_url.rstrip("/") if sagemaker_url else None
        for given in (url, sagemaker):
            if given is not None and not is_loopback_url(given):
                raise SagestackError(
                    f"refusing to use {given} without --aws: the default target is a local cloud on a loopback "
                    "address (127.0.0.1, ::1, localhost); pass --aws to use real AWS"
                )
        return cls(aws=False, endpoint_url=url, region=region or DEFAULT_REGION, profile=None, sagemaker_url=sagemaker)

    @property
    def description(self) -> str:
        if self.aws:
            return f"AWS ({self.region_name}{', profile ' + self.profile if self.profile else ''})"
        if self.sagemaker_url:
            return f"localcloud at {self.sagemaker_url} (SageMaker) with its backplane at {self.endpoint_url}"
        return f"localcloud at {self.endpoint_url}"

    @cached_property
    def session(self) -> boto3.Session:
        """The boto3 session (made once per target)."""
        return self._aws_session() if self.aws else self._local_session()

    def _local_session(self) -> boto3.Session:
        # `profile` mapped to nothing: AWS_PROFILE is not read (a profile that does not exist
        # here must not break local use). No config or credentials file is read either.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
        return boto3.Session(
            botocore_session=core,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
            region_name=self.region or DEFAULT_REGION,
        )

    def _aws_session(self) -> boto3.Session:
        return boto3.Session(profile_name=self.profile, region_name=self.region)

    @property
    def region_name(self) -> str:
        region = self.session.region_name
        if not region:
            raise SagestackError("no AWS region configured: pass --region, or set AWS_REGION / a profile region")
        return str(region)

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on this target."""
        if self.aws:
            config = Config(ignore_configured_endpoint_urls=True, retries={"mode": "standard"})
            return self.session.client(service, region_name=self.region_name, config=config)
        # Fail fast when nothing listens (no long retry backoff), but wait for slow local calls.
        config = Config(connect_timeout=3, read_timeout=120, retries={"total_max_attempts": 2, "mode": "standard"})
        url = self.sagemaker_url if self.sagemaker_url and service in SAGEMAKER_SERVICES else self.endpoint_url
        return self.session.client(service, endpoint_url=url, config=config)

    @cached_property
    def account_id(self) -> str:
        """The account the target acts in (a call to STS on AWS, a constant locally)."""
        if not self.aws:
            return LOCAL_ACCOUNT
        return str(self.client("sts").get_caller_identity()["Account"])
