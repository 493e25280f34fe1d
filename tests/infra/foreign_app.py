"""A CDK app that is not sagestack's, written as CDK users commonly write one (`cdk deploy --app "python ..."`).

Its constructs are everyday L2s with their defaults: a queue with a dead-letter queue, a topic
feeding the queue, a versioned bucket with a lifecycle rule, an SSM parameter, a role with a
managed policy and a grant, an alarm on the queue's age, and a rule sending events to the queue.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm

app = cdk.App()
stack = cdk.Stack(app, "OrdersStack", env=cdk.Environment(account="123456789012", region="us-east-1"))
dead = sqs.Queue(stack, "Dead")
queue = sqs.Queue(stack, "Orders", visibility_timeout=cdk.Duration.seconds(45),
                  dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=3))
topic = sns.Topic(stack, "OrderEvents")
topic.add_subscription(subscriptions.SqsSubscription(queue))
bucket = s3.Bucket(stack, "Archive", versioned=True, removal_policy=cdk.RemovalPolicy.DESTROY,
                   lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(30))])
ssm.StringParameter(stack, "QueueUrl", parameter_name="/orders/queue-url", string_value=queue.queue_url)
worker = iam.Role(stack, "Worker", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                  managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchReadOnlyAccess")])
queue.grant_consume_messages(worker)
bucket.grant_read_write(worker)
cloudwatch.Alarm(stack, "Backlog", metric=queue.metric_approximate_age_of_oldest_message(),
                 threshold=300, evaluation_periods=1)
events.Rule(stack, "Placed", event_pattern=events.EventPattern(source=["shop.orders"]),
            targets=[targets.SqsQueue(queue)])
cdk.CfnOutput(stack, "QueueUrlOutput", value=queue.queue_url)
cdk.CfnOutput(stack, "BucketName", value=bucket.bucket_name)
cdk.CfnOutput(stack, "TopicArn", value=topic.topic_arn)
app.synth()
