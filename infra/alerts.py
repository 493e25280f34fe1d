"""Where alerts go: one encrypted SNS topic, emailed to the stage's people, and an SQS queue for tools.

The queue is how alerts reach people and programs that have no mailbox (the CLI's
`sagestack alerts`, tests, localcloud): every message published to the topic lands in it.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig


class Alerts(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name=f"{config.prefix} alerts", master_key=key,
                               enforce_ssl=True)
        retention = cdk.Duration.days(14)
        self.dead_letters = sqs.Queue(self, "DeadLetters", encryption=sqs.QueueEncryption.KMS,
                                      encryption_master_key=key, enforce_ssl=True, retention_period=retention)
        self.queue = sqs.Queue(self, "Queue", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
                               enforce_ssl=True, retention_period=retention,
                               dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5))
        self.topic.add_subscription(subscriptions.SqsSubscription(self.queue, raw_message_delivery=True))
        for email in config.alert_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
