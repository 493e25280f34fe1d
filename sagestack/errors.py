"""One clear line instead of a traceback, for every failure a person can act on.

Why: a CLI user who forgot `sagestack up`, or whose credentials expired, needs to read what
to do, not 40 lines of botocore internals. Every command runs inside `cli.main`, which
maps the exceptions below to `error: <one line>` on stderr and exit code 1. Unexpected
exceptions (bugs) still show their traceback: hiding those would hide bugs.
"""

from __future__ import annotations

import re
from typing import IO, Any

import click
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

MAX_MESSAGE = 400


class SagestackError(click.ClickException):
    """A failure explained in one line; exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Collapse whitespace (and any HTML a proxy may answer with) into one bounded line."""
    text = re.sub(r"<[^>]+>", " ", str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain(error: Exception, target_description: str, local: bool, endpoint_url: str | None) -> SagestackError | None:
    """The one-line explanation of an AWS-side failure, or None when `error` is not one."""
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        if local:
            return SagestackError(f"localcloud is not running at {endpoint_url} — start it with `sagestack up`")
        return SagestackError(f"cannot reach AWS: {one_line(str(error))}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return SagestackError(
            "no AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, "
            "or export AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, ProfileNotFound | NoRegionError):
        return SagestackError(one_line(str(error)))
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code") or "Error"
        message = info.get("Message") or str(error)
        operation = getattr(error, "operation_name", "") or "request"
        return SagestackError(f"{operation} on {target_description} failed: {code}: {one_line(message)}")
    if isinstance(error, BotoCoreError):
        return SagestackError(f"{target_description}: {one_line(str(error))}")
    return None


def is_not_found(error: Exception) -> bool:
    """True for SageMaker's "no such resource" answers.

    AWS uses ResourceNotFound for some APIs and ValidationException with "does not exist" /
    "Could not find" for others (Describe{Endpoint,ModelPackageGroup}); moto follows the latter.
    Other ValidationExceptions (a malformed name...) are real errors and stay errors.
    """
    if not isinstance(error, ClientError):
        return False
    info = error.response.get("Error", {})
    code, message = info.get("Code"), str(info.get("Message", ""))
    missing = "does not exist" in message or "Could not find" in message
    return code in ("ResourceNotFound", "NoSuchEntity") or (code in ("ValidationException", "ValidationError")
                                                            and missing)
