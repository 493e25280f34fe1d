"""moto's Lambda, with invocations that run the function (runtime.py) instead of needing Docker.

Invoke's three types behave as on AWS: RequestResponse runs the handler and answers its result
(X-Amz-Function-Error "Unhandled" and the error document when it failed, the log's tail in
X-Amz-Log-Result), Event queues it and answers 202 at once, DryRun only checks. EventBridge rule
targets (localcloud.eventbridge) and SNS subscriptions invoke asynchronously, as AWS does; a
failed asynchronous invocation is in the function's log and localcloud's, and is not retried.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend

from localcloud.functions import runtime

log = logging.getLogger("localcloud.functions")

_events = ThreadPoolExecutor(max_workers=4, thread_name_prefix="function-event")
"""Asynchronous invocations (Event, rule targets, SNS); module-level, since backends are pickled."""


class InvalidRequestContent(LambdaClientError):
    code = 400

    def __init__(self) -> None:
        super().__init__("InvalidRequestContentException", "Could not parse request body into json: the payload "
                                                           "is not valid JSON")


def _event_payload(body: Any) -> bytes:
    raw = body if isinstance(body, bytes) else str(body or "").encode()
    if not raw.strip():
        return b"{}"
    try:
        json.loads(raw)
    except ValueError:
        raise InvalidRequestContent() from None
    return raw


def invoke_later(function: Any, payload: bytes) -> None:
    """Queue an asynchronous invocation of `function` (a moto LambdaFunction)."""
    def run() -> None:
        try:
            outcome = runtime.invoke(function, payload)
            if outcome.error:
                log.warning("asynchronous invocation of %s failed: %s", function.function_name,
                            outcome.payload.decode(errors="replace")[:500])
        except Exception:
            log.exception("asynchronous invocation of %s could not run", function.function_name)

    _events.submit(run)


class LocalLambdaBackend(LambdaBackend):
    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the backend's module name; Lambda's is moto's.
        from moto.awslambda import urls

        return urls

    def invoke(self, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: Any) -> bytes:
        function = self.get_function(function_name, qualifier)
        kind = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        payload = _event_payload(body)
        if kind == "DryRun":
            return b""
        if kind == "Event":
            invoke_later(function, payload)
            return b""
        outcome = runtime.invoke(function, payload)
        if outcome.error:
            response_headers["x-amz-function-error"] = outcome.error
        response_headers["x-amz-log-result"] = base64.b64encode(outcome.log_tail.encode()).decode()
        response_headers["x-amz-executed-version"] = "$LATEST"
        return outcome.payload

    def send_sns_message(self, function_name: str, message: str, subject: str | None = None,
                         qualifier: str | None = None) -> None:
        """An SNS delivery: Lambda's SNS event, invoked asynchronously (moto's would run it inline, in Docker)."""
        function = self._lambdas.get_function_by_name_or_arn_with_qualifier(function_name, qualifier)
        record = {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {
            "Type": "Notification", "MessageId": str(uuid.uuid4()), "Subject": subject, "Message": message,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "MessageAttributes": {}}}
        invoke_later(function, json.dumps({"Records": [record]}).encode())
