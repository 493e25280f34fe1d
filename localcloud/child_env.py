"""The environment of every process localcloud starts: an allowlist, never localcloud's own.

localcloud runs on a developer's machine, whose environment holds secrets (a GITHUB_TOKEN, the
user's real AWS session, API keys) that a job or a model server has no business seeing: on AWS
a container sees only what its job definition gives it and its role's credentials. So children
start from nothing but:

- locale and certificate settings, and PATH, so programs find `sh` and behave;
- a HOME and TMPDIR of their own inside their folder (a container's home is not the user's);
- credentials as a container gets them from its role: placeholder keys that mean nothing outside
  localcloud (which accepts any), with AWS_ENDPOINT_URL pointing their AWS calls back at it (at
  the backplane in backplane mode, SageMaker's still here through AWS_ENDPOINT_URL_SAGEMAKER).

Then the job's or model's own Environment is added by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from localcloud import aws

__all__ = ["PASSED_THROUGH", "ROLE_CREDENTIALS", "child_environment"]

PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                  "USER", "LOGNAME")
"""Host variables a child inherits: what programs need to run, nothing that grants access."""

ROLE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": aws.ACCOUNT_ID,  # LocalStack (a backplane) reads a 12-digit key as the account
    "AWS_SECRET_ACCESS_KEY": "localcloud-role-credentials-are-placeholders",
    "AWS_SESSION_TOKEN": "localcloud-role-session",
}
"""What a container gets from its execution role, here placeholders that only localcloud accepts."""


def child_environment(region: str, folder: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process working in `folder` (its HOME and TMPDIR are made there)."""
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    home, tmp = folder / "home", folder / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env["HOME"], env["TMPDIR"] = str(home), str(tmp)
    env.update(ROLE_CREDENTIALS)
    env["AWS_ENDPOINT_URL"] = aws.endpoint_url()
    env["AWS_ENDPOINT_URL_SAGEMAKER"] = env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = aws.self_url()
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
    env.update(extra or {})
    return env
