"""SQS resource types moto's CloudFormation skips: AWS::SQS::QueuePolicy."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sqs.models import sqs_backends

from localcloud.cloudformation.resource import ResourceType


class QueuePolicy(ResourceType, CloudFormationModel):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> QueuePolicy:
        policy = cls(name, account_id, region, properties)
        policy._apply(properties["PolicyDocument"])
        return policy

    def _apply(self, document: Any) -> None:
        text = document if isinstance(document, str) or document is None else json.dumps(document)
        backend = sqs_backends[self.account_id][self.region]
        for url in self.properties["Queues"]:
            name = url.rstrip("/").rsplit("/", 1)[-1]
            if name in backend.queues:
                backend.set_queue_attributes(name, {"Policy": text or ""})

    def update(self, name: str, properties: dict[str, Any]) -> QueuePolicy:
        self.properties = properties
        self._apply(properties["PolicyDocument"])
        return self

    def remove(self) -> None:
        self._apply(None)
