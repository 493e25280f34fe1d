"""The storage construct: encrypted, private, TLS-only buckets under one rotating key."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.app import build


@pytest.fixture(scope="module")
def template() -> Template:
    app = cdk.App(context={"sagestack:stage": "local"})
    return Template.from_stack(build(app))


def test_key_rotates(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_data_buckets_use_the_key_and_block_public_access(template: Template) -> None:
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {"BucketEncryption": {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}}})
    assert len(buckets) == 2
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        assert "LoggingConfiguration" in bucket["Properties"]


def test_every_bucket_refuses_plain_http(template: Template) -> None:
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_local_stage_does_not_retain_data(template: Template) -> None:
    template.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Delete"})


def test_prod_stage_retains_data() -> None:
    app = cdk.App(context={"sagestack:stage": "prod"})
    prod = Template.from_stack(build(app))
    prod.all_resources("AWS::S3::Bucket", Match.object_like({"DeletionPolicy": "Retain"}))


def test_unknown_stage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown stage 'qa'; known stages: local, dev, prod"):
        build(cdk.App(context={"sagestack:stage": "qa"}))
