"""EventBridge rules that deliver to SNS topics and Lambda functions and start SageMaker pipelines.

moto's rules deliver matched events to log groups, SQS queues, archives and other buses, and
raise NotImplementedError for any other target, which loses the event and fails the PutEvents
that carried it. An MLOps stack's rules target three other kinds: an SNS topic (alerts: "a
model was approved", "a pipeline failed"), a Lambda function (deploy an approved model) and a
SageMaker pipeline (retraining, with `SageMakerPipelineParameters`). This rule delivers those
itself, as AWS does (the event, or the target's InputTransformer output, as the SNS message or
the function's asynchronous invocation; the pipeline started with the target's parameters), and
leaves every other target to moto.

Rules with only a schedule never match events (moto would deliver every event to them); the
schedules themselves are not run here.

A target that cannot be reached (a deleted topic or pipeline) is logged and skipped: AWS
retries and then drops it, and PutEvents has already succeeded for the caller.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import TYPE_CHECKING, Any, cast

from moto.events import models
from moto.events.utils import EventMessageType, EventTemplateParser
from moto.utilities.arns import parse_arn

if TYPE_CHECKING:
    from localcloud.sagemaker.backend import LocalSageMakerBackend

log = logging.getLogger("localcloud.events")


def _payload(target: dict[str, Any], event: EventMessageType) -> Any:
    transformer = target.get("InputTransformer") or {}
    if "Input" in target:
        return json.loads(target["Input"]) if isinstance(target["Input"], str) else target["Input"]
    # moto annotates the template `str`, but takes None (no InputTransformer) for its default template
    return EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),  # type: ignore[arg-type]
                                     input_paths_map=transformer.get("InputPathsMap", {}), event=event)


def _publish(arn: Any, target: dict[str, Any], event: EventMessageType) -> None:
    from moto.sns.models import sns_backends

    payload = _payload(target, event)
    message = payload if isinstance(payload, str) else json.dumps(payload)
    sns_backends[arn.account][arn.region].publish(message, arn=target["Arn"])


def _invoke_function(arn: Any, target: dict[str, Any], event: EventMessageType) -> None:
    from moto.awslambda.models import lambda_backends

    from localcloud.lambda_.backend import invoke_later

    function = lambda_backends[arn.account][arn.region].get_function(target["Arn"])
    payload = _payload(target, event)
    invoke_later(function, (payload if isinstance(payload, str) else json.dumps(payload)).encode())


def _start_pipeline(arn: Any, target: dict[str, Any], event: EventMessageType) -> None:
    from moto.sagemaker.models import sagemaker_backends

    parameters = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
    name = arn.resource_id.split("/")[-1]
    backend = cast("LocalSageMakerBackend", sagemaker_backends[arn.account][arn.region])  # extensions.py installs ours
    backend.start_pipeline_execution(
        name, f"{event.get('detail-type', 'event')[:60]}".replace(" ", "-"), parameters,
        f"started by EventBridge rule for {event.get('source', '?')}", None, None)


class LocalRule(models.Rule):
    def send_to_targets(self, original_event: EventMessageType, transform_input: bool = True) -> None:
        # A rule with only a schedule matches no event (moto's empty pattern would match every
        # one), and a disabled rule matches nothing.
        if not self.event_pattern.get_pattern() and self.scheduled_expression:
            return
        if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
            return
        for_moto = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            deliver = {"sns": _publish, "lambda": _invoke_function, "sagemaker": _start_pipeline}.get(arn.service)
            if deliver is None:
                for_moto.append(target)
                continue
            try:
                deliver(arn, target, original_event)
            except Exception as e:  # the target is gone or refused: AWS drops it after retries
                log.warning("rule %s could not deliver an event to %s: %s", self.name, target["Arn"], e)
        if for_moto:
            rest = copy.copy(self)
            rest.targets = for_moto
            super(LocalRule, rest).send_to_targets(original_event, transform_input)


def install() -> None:
    """Rules made from now on (PutRule, CloudFormation) deliver to SNS and SageMaker too (idempotent)."""
    models.Rule = LocalRule  # type: ignore[misc]  # put_rule builds rules by this module-level name
