"""Storage: the KMS key and the S3 buckets every other concern writes into.

Data (raw and processed trips), artifacts (models, reports, baselines, capture) and
access logs are separate buckets so retention and access can differ; all are
encrypted with one customer-managed key, private, and refuse plain HTTP.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY
        self.key = kms.Key(self, "Key", alias=f"alias/{config.prefix}", enable_key_rotation=True,
                           description="Encrypts sagestack data, artifacts and logs", removal_policy=removal)
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, removal_policy=removal,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))])
        self.data = self._bucket("Data", removal, versioned=False)
        self.artifacts = self._bucket("Artifacts", removal, versioned=True)

    def _bucket(self, name: str, removal: cdk.RemovalPolicy, *, versioned: bool) -> s3.Bucket:
        return s3.Bucket(
            self, name, encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL, versioned=versioned,
            removal_policy=removal, server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{name.lower()}/")
