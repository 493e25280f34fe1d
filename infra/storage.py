"""Storage: the KMS key and the S3 buckets every other concern writes into.

Data (raw trips), artifacts (models, reports, baselines, pipeline runs), data capture (live
requests and answers, which the monitors read) and access logs are separate buckets so that
retention and access can differ: capture expires after the stage's retention, artifacts keep
old versions for a while (a model package must keep pointing at the bytes it registered).
All but the access logs are encrypted with one customer-managed, rotating key; all are private
and refuse plain HTTP. The access logs are kept when the stack is deleted, in every stage: they
are the record of who read and wrote the data.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY
        self.key = kms.Key(self, "Key", alias=f"alias/{config.prefix}", enable_key_rotation=True,
                           description="Encrypts sagestack data, artifacts, capture and alerts", removal_policy=removal)
        # Alarms publish to the encrypted alert topic: CloudWatch needs the key, only through SNS in this
        # account. (EventBridge's and SNS's own grants are added by CDK with the rule targets and queue.)
        self.key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"], conditions={"StringEquals": {
                "kms:ViaService": f"sns.{cdk.Aws.REGION}.amazonaws.com", "aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}))
        # Access logs are audit records: like the model registry, they outlive the stack in every stage.
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=cdk.RemovalPolicy.RETAIN,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))])
        self.data = self._bucket("Data", removal, versioned=False)
        self.artifacts = self._bucket("Artifacts", removal, versioned=True, lifecycle_rules=[
            s3.LifecycleRule(noncurrent_version_expiration=cdk.Duration.days(90),
                             abort_incomplete_multipart_upload_after=cdk.Duration.days(7))])
        self.capture = self._bucket("Capture", removal, versioned=False, lifecycle_rules=[
            s3.LifecycleRule(expiration=cdk.Duration.days(config.capture_retention_days),
                             abort_incomplete_multipart_upload_after=cdk.Duration.days(1))])

    def _bucket(self, name: str, removal: cdk.RemovalPolicy, *, versioned: bool,
                lifecycle_rules: list[s3.LifecycleRule] | None = None) -> s3.Bucket:
        return s3.Bucket(
            self, name, encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL, versioned=versioned,
            removal_policy=removal, server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{name.lower()}/", lifecycle_rules=lifecycle_rules)
