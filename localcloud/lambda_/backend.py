"""moto's Lambda, with invocations that run the function (runtime.py) instead of needing Docker.

Invoke's three types behave as on AWS: RequestResponse runs the handler and answers its result
(X-Amz-Function-Error "Unhandled" and the error document when it failed, the log's tail in
X-Amz-Log-Result), Event queues it and answers 202 at once, DryRun only checks. EventBridge rule
targets (localcloud.eventbridge) and SNS subscriptions invoke asynchronously, as AWS does; a
failed asynchronous invocation is in the function's log and localcloud's, and is not retried.
Every invocation is work of the backend's engine, so a reset or shutdown stops its process.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend, lambda_backends

from localcloud.engine import Engine, Work
from localcloud.lambda_ import runtime

log = logging.getLogger("localcloud.lambda_")


class Invocation(Work):
    """One invocation as the engine's work: reset and shutdown stop its process like any job's."""

    def __init__(self, function: Any, payload: bytes):
        self.function, self.payload = function, payload
        self.request_id = str(uuid.uuid4())
        self.key = f"{function.function_arn}:invocation/{self.request_id}"
        self.outcome: runtime.Outcome | None = None

    def run(self, stop: threading.Event) -> None:
        self.outcome = runtime.invoke(self.function, self.payload, self.request_id, stop)
        if self.outcome.error:
            log.info("invocation %s of %s failed: %s", self.request_id, self.function.function_name,
                     self.outcome.payload.decode(errors="replace")[:500])

    def crashed(self, reason: str) -> None:
        self.outcome = runtime.Outcome(runtime.failure(self.request_id, "ServiceException", reason), "Unhandled", "")


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
    """Invoke `function` (a moto LambdaFunction) asynchronously, on its backend's engine."""
    backend = cast(LocalLambdaBackend, lambda_backends[function.account_id][function.region])  # ours: extensions.py
    backend.engine.submit(Invocation(function, payload))


class LocalLambdaBackend(LambdaBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.engine = Engine(f"lambda-{region_name}")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["engine"]  # threads and processes of this process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.engine = Engine(f"lambda-{self.region_name}")

    def reset(self) -> None:
        self.engine.stop_all()
        super().reset()

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
        work = Invocation(function, payload)
        self.engine.run(work, threading.Event())
        outcome = work.outcome
        assert outcome is not None
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
