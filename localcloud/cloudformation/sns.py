"""SNS resource types moto's CloudFormation skips: AWS::SNS::TopicPolicy, AWS::SNS::Subscription."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.sns.models import sns_backends

from localcloud.cloudformation.resource import ResourceType

_SUBSCRIPTION_ATTRIBUTES = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                            "DeliveryPolicy")


class TopicPolicy(ResourceType, CloudFormationModel):
    TYPE = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> TopicPolicy:
        policy = cls(name, account_id, region, properties)
        policy._apply(properties)
        return policy

    def _apply(self, properties: dict[str, Any]) -> None:
        document = properties["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        backend = sns_backends[self.account_id][self.region]
        for topic in properties["Topics"]:
            backend.set_topic_attribute(topic, "policy", text)

    def update(self, name: str, properties: dict[str, Any]) -> TopicPolicy:
        self._apply(properties)
        self.properties = properties
        return self

    def remove(self) -> None:
        """Back to the policy a new topic has (moto builds it; the API offers no "reset")."""
        backend = sns_backends[self.account_id][self.region]
        for topic_arn in self.properties["Topics"]:
            topic = backend.topics.get(topic_arn)
            if topic is not None:
                default = topic._create_default_topic_policy(self.region, self.account_id, topic.name)
                backend.set_topic_attribute(topic_arn, "policy", json.dumps(default))


class Subscription(ResourceType, CloudFormationModel):
    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Subscription:
        backend = sns_backends[account_id][region]
        subscription = backend.subscribe(properties["TopicArn"], properties["Endpoint"], properties["Protocol"])
        for attribute in _SUBSCRIPTION_ATTRIBUTES:
            if attribute in properties:
                value = properties[attribute]
                text = json.dumps(value) if isinstance(value, dict) else str(value).lower() \
                    if isinstance(value, bool) else str(value)
                backend.set_subscription_attributes(subscription.arn, attribute, text)
        return cls(subscription.arn, account_id, region, properties)

    def remove(self) -> None:
        sns_backends[self.account_id][self.region].unsubscribe(self.physical_id)
