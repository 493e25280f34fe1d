"""Error responses in the shape each AWS wire protocol uses, so SDKs parse them as they parse AWS's.

- JSON protocol (`X-Amz-Target`): `{"__type": code, "message": ...}` and `x-amzn-ErrorType`.
- REST-JSON (Lambda, SageMaker Runtime): the same body and header.
- Query protocol (IAM, STS, SNS, CloudFormation): `<ErrorResponse><Error>...</Error></ErrorResponse>`.
- REST-XML (S3): `<Error><Code>...</Code><Message>...</Message></Error>`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from xml.sax.saxutils import escape

__all__ = ["ApiError", "render"]



@dataclass
class ApiError(Exception):
    """An error AWS would answer: HTTP status, error code and message."""

    status: int
    code: str
    message: str
    sender: bool = True
    """Query protocol `<Type>`: Sender (the caller's fault) or Receiver (ours)."""
    extra: dict[str, object] = field(default_factory=dict)
    """More members of a JSON error body (e.g. SageMaker Runtime's OriginalStatusCode)."""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def render(error: ApiError, protocol: str, request_id: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body of `error` as `protocol` carries it."""
    request_id = request_id or uuid.uuid4().hex
    if protocol in ("json", "rest-json"):
        payload: dict[str, object] = {"__type": error.code, "message": error.message, **error.extra}
        body = json.dumps(payload).encode()
        content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", error.code)]
    elif protocol == "query":
        kind = "Sender" if error.sender else "Receiver"
        body = (f'<ErrorResponse xmlns="https://localcloud/doc/"><Error><Type>{kind}</Type>'
                f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml")]
    else:  # rest-xml, and the fallback for requests we cannot place
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(error.code)}</Code>'
                f"<Message>{escape(error.message)}</Message><RequestId>{request_id}</RequestId></Error>").encode()
        headers = [("Content-Type", "application/xml")]
    headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
    return _status_line(error.status), headers, body
