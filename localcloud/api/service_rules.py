"""Rules of particular services that their API models do not express, checked before moto sees a request.

The models say what each member may hold; a few services read some members further, by rules of
their own that AWS documents in prose (S3's grant headers, copy source and browser form upload,
Lambda's function ARNs). moto reads those members by assuming they are well formed and fails
with an exception when they are not; these checks answer as the service does instead.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from localcloud.api.errors import ApiError

__all__ = ["check", "check_s3_form_upload"]

S3_GRANT_PERMISSIONS = frozenset({"read", "write", "read-acp", "write-acp", "full-control"})
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)="?([^",]+)"?\s*', re.IGNORECASE)


def _s3(operation: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    if "x-amz-copy-source" in headers:
        # `[/]bucket/key[?versionId=id]`; the model's pattern lets a `?` slip in front of the key.
        path = headers["x-amz-copy-source"].partition("?")[0].lstrip("/")
        bucket, _, key = path.partition("/")
        if not bucket or not key:
            raise ApiError(400, "InvalidArgument", "Invalid copy source object key: x-amz-copy-source must be "
                                                   "bucket/key, URL-encoded")
    for name, value in headers.items():
        if not name.startswith("x-amz-grant-"):
            continue
        if name[len("x-amz-grant-"):] not in S3_GRANT_PERMISSIONS:
            raise ApiError(400, "InvalidArgument", f"Unknown grant header {name}")
        if not all(_GRANTEE.fullmatch(part) for part in value.split(",")):
            raise ApiError(400, "InvalidArgument", f"{name} must list grantees as id=\"...\", uri=\"...\" or "
                                                   f"emailAddress=\"...\", comma-separated")


def _lambda(operation: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    name = params.get("FunctionName")
    if not isinstance(name, str) or not name.startswith("arn:"):
        return
    # The FunctionName pattern admits ARNs with empty or odd parts that no function can have.
    parts = name.split(":")
    if len(parts) not in (7, 8) or not parts[1] or parts[2] != "lambda" or not parts[4].isdigit() \
            or parts[5] != "function":
        raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{name[:140]}' at "
                                                   f"'functionName' is not a function name or ARN "
                                                   f"(arn:aws:lambda:region:account:function:name[:qualifier])")


_RULES: dict[str, Callable[[str, Mapping[str, Any], Mapping[str, str]], None]] = {"s3": _s3, "lambda": _lambda}


def check(service: str, operation: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Raise ApiError if a REST request breaks one of its service's unmodelled rules."""
    rule = _RULES.get(service)
    if rule is not None:
        rule(operation, params, headers)


def check_s3_form_upload(environ: dict, body: bytes, limit: int) -> None:
    """S3's browser form upload (POST /bucket, multipart/form-data) must carry a `key` field."""
    from werkzeug.formparser import parse_form_data

    copy = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
    try:
        _, form, _files = parse_form_data(copy, silent=False, max_form_memory_size=limit)
    except Exception as e:  # werkzeug's parse errors are many kinds of ValueError and HTTPException
        raise ApiError(400, "MalformedPOSTRequest", f"The body of the POST request is not well-formed "
                                                    f"multipart/form-data ({type(e).__name__})") from None
    if "key" not in form:
        raise ApiError(400, "InvalidArgument", "Bucket POST must contain a field named 'key'.")
