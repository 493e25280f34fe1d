"""Following the deployment an approval starts: the deploying function's verdict, then the endpoint's canary.

The function (functions/deploy_approved_model) prints one JSON line per invocation saying what
it did with the package (deploying, skipped or refused, and why); CloudWatch Logs is where the
CLI reads it, as a person would. When it deploys, the stack's update carries the endpoint
through its guarded deployment, shown as it goes; the update's end says whether the model
serves or was rolled back.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from sagestack import progress, render
from sagestack.context import App
from sagestack.errors import SagestackError
from sagestack.settings import describe_stack

VERDICT_TIMEOUT = 120.0
"""Seconds to wait for the function's verdict (it starts within seconds of the approval)."""


def verdict(logs: Any, function: str, package_arn: str, since: datetime) -> dict[str, Any] | None:
    """The function's verdict on `package_arn` in its log since `since`, or None while there is none."""
    group = f"/aws/lambda/{function}"
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": int(since.timestamp() * 1000) - 5000}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page.get("events", []):
                try:
                    said = json.loads(event["message"])
                except ValueError:
                    continue
                if isinstance(said, dict) and said.get("package") == package_arn:
                    return said
            if not page.get("nextToken"):
                return None
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return None


def follow(app: App, package_arn: str, version: str, since: datetime, poll_seconds: float = 0.5) -> None:
    """Wait for the function's verdict, then for the stack update it started; say how it ended.

    The endpoint is watched from the approval on: the function may still be waiting for
    CloudFormation to take its update when the canary has already begun.
    """
    s = app.settings
    function = str(s.deployer_function)
    logs, cloudformation, endpoint = app.client("logs"), app.client("cloudformation"), s.need("endpoint_name")
    app.err.print(f"the stack's {function} is taking version {version}")
    started = time.monotonic()
    with progress.DeploymentWatch(app.err, app.sagemaker, app.client("cloudwatch"), endpoint):
        found = None
        deadline = time.monotonic() + VERDICT_TIMEOUT
        while found is None and time.monotonic() < deadline:
            found = verdict(logs, function, package_arn, since)
            if found is None:
                time.sleep(poll_seconds)
        if found is None:
            raise SagestackError(f"{function} said nothing about version {version} within {VERDICT_TIMEOUT:.0f} s; "
                                 f"see its log (`sagestack logs function`)")
        if found.get("outcome") != "deploying":
            app.out.print(f"not deployed: {found.get('reason', found.get('outcome'))}")
            return
        app.out.print(f"deploying version {version} through stack {s.stack.name} (canary, automatic rollback)")
        # the function logs its verdict once CloudFormation accepted the update: from here the stack is busy
        # until the endpoint serves the new model or went back to the old one
        stack = describe_stack(cloudformation, s.stack.name)
        while stack.status is None or stack.status.endswith("_IN_PROGRESS"):
            time.sleep(poll_seconds)
            stack = describe_stack(cloudformation, s.stack.name)
    app.forget_settings()
    served = app.settings.served_model_package
    took = render.seconds_text(time.monotonic() - started)
    if served == package_arn:
        app.out.print(f"endpoint {endpoint} serves model package version {version} ({took})")
        return
    reason = (app.sagemaker.describe_endpoint(EndpointName=endpoint).get("FailureReason") or
              f"stack {s.stack.name} ended {stack.status}")
    raise rolled_back(version, reason, served)


def rolled_back(version: str, reason: str, served: str | None) -> SagestackError:
    """The error of a deployment the guardrails (or a failed stack update) took back, for `model approve` and
    `endpoint deploy` alike."""
    return SagestackError(f"the deployment of model package version {version} was rolled back: "
                          f"{render.one_line_reason(reason, 300)}; it still serves {served or 'nothing'}")
