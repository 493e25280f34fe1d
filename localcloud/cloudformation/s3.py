"""S3 resource types moto's CloudFormation skips: AWS::S3::BucketPolicy."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from localcloud.cloudformation.resource import ResourceType


def _policy_text(document: Any) -> bytes:
    return (document if isinstance(document, str) else json.dumps(document)).encode()


class BucketPolicy(ResourceType, CloudFormationModel):
    """A bucket's policy (CDK puts its SSL-only and log-delivery statements here)."""

    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> BucketPolicy:
        bucket = properties["Bucket"]
        s3_backends[account_id][get_partition(region)].put_bucket_policy(bucket, _policy_text(properties[
            "PolicyDocument"]))
        return cls(bucket, account_id, region, properties)

    def update(self, name: str, properties: dict[str, Any]) -> BucketPolicy:
        s3_backends[self.account_id][get_partition(self.region)].put_bucket_policy(
            self.physical_id, _policy_text(properties["PolicyDocument"]))
        self.properties = properties
        return self

    def remove(self) -> None:
        backend = s3_backends[self.account_id][get_partition(self.region)]
        if self.physical_id in backend.buckets:
            backend.delete_bucket_policy(self.physical_id)
