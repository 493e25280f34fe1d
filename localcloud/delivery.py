"""What localcloud sends to itself as AWS services send to each other: events, notifications.

SageMaker emits EventBridge events, CloudWatch publishes alarm notifications to SNS and
events to EventBridge. They go through the AWS API (boto3 at localcloud's own URL), as
AWS's services reach each other, never into another service's internals. One background
thread delivers them in order, so the API call or evaluation that caused them never waits
on them, and a delivery that fails is logged, never fatal.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from localcloud import aws

__all__ = ["publish_event", "publish_sns", "submit"]

log = logging.getLogger("localcloud.delivery")

_queue: queue.Queue[tuple[str, Callable[[], Any]]] = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()


def submit(what: str, send: Callable[[], Any]) -> None:
    """Queue `send` (one delivery); `what` names it in the log if it fails."""
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_deliver, name="delivery", daemon=True)
            _worker.start()
    _queue.put((what, send))


def _deliver() -> None:
    while True:
        what, send = _queue.get()
        try:
            send()
        except Exception:  # delivery problems are logged, never fatal to what caused them
            log.exception("could not deliver %s", what)
        finally:
            _queue.task_done()


def publish_event(region: str, entry: dict[str, Any]) -> None:
    """Queue one PutEvents entry for the default event bus."""
    def send() -> None:
        if aws.client("events", region).put_events(Entries=[entry]).get("FailedEntryCount", 0):
            log.warning("EventBridge refused event %s", entry.get("DetailType"))

    submit(f"event {entry.get('DetailType')}", send)


def publish_sns(topic_arn: str, message: str, subject: str | None = None) -> None:
    """Queue one SNS Publish to `topic_arn` (in the topic's own region)."""
    region = topic_arn.split(":")[3]
    arguments = {"TopicArn": topic_arn, "Message": message, **({"Subject": subject} if subject else {})}
    submit(f"SNS message to {topic_arn}", lambda: aws.client("sns", region).publish(**arguments))
