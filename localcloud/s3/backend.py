"""Our S3 backend: moto's, whose buckets evaluate their policies with `policy.decide`, and never vanish with data."""

from __future__ import annotations

from typing import Any

from moto.iam.access_control import PermissionResult
from moto.s3.exceptions import BucketNotEmpty
from moto.s3.models import FakeBucket, S3Backend

from localcloud.s3.policy import Decision, decide

_RESULT = {Decision.ALLOW: PermissionResult.PERMITTED, Decision.DENY: PermissionResult.DENIED,
           Decision.NONE: PermissionResult.NEUTRAL}


class LocalBucket(FakeBucket):
    """A bucket whose policy statements apply only when their conditions hold (moto denies instead)."""

    def get_permission(self, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return _RESULT[decide(self.policy, action, resource)]


class LocalS3Backend(S3Backend):
    def create_bucket(self, bucket_name: str, region_name: str, bucket_namespace: str | None = None) -> FakeBucket:
        bucket = super().create_bucket(bucket_name, region_name, bucket_namespace)
        # same state, our policy evaluation; moto builds the instance itself. (mypy takes LocalBucket for
        # abstract: moto's FakeBucket leaves CloudFormationModel's `is_created` unimplemented.)
        bucket.__class__ = LocalBucket  # type: ignore[type-abstract]
        return bucket

    def delete_bucket(self, bucket_name: str) -> FakeBucket | None:
        """AWS refuses to delete a bucket that holds objects (or versions of them).

        moto's answer is None, which its API turns into BucketNotEmpty but its CloudFormation
        takes for success: a stack's deletion then "removed" a bucket that still holds the data.
        """
        if self.get_bucket(bucket_name).keys:
            raise BucketNotEmpty(bucket_name)
        return super().delete_bucket(bucket_name)
