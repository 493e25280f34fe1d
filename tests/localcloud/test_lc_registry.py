"""The model registry: packages, approvals, and the EventBridge events they raise."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import ROLE, SKLEARN_IMAGE
from support import LocalCloud, wait_until


def test_package_changes_raise_eventbridge_events(localcloud: LocalCloud) -> None:
    sm, events, sqs = (localcloud.client(s) for s in ("sagemaker", "events", "sqs"))
    tag = uuid.uuid4().hex[:8]
    group = f"events-{tag}"
    queue_url = sqs.create_queue(QueueName=f"registry-{tag}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"packages-{tag}", EventPattern=json.dumps({
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [group]}}))
    events.put_targets(Rule=f"packages-{tag}", Targets=[{"Id": "q", "Arn": queue_arn}])
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": "s3://b/evaluation.json"}}},
        DriftCheckBaselines={"ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/statistics.json"},
            "Constraints": {"ContentType": "application/json", "S3Uri": "s3://b/constraints.json"}}},
    )["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks good")

    received: list[dict] = []

    def two_events() -> bool:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(message["Body"]))
        return len(received) >= 2

    assert wait_until(two_events, 15, 0.2), received
    assert [e["detail-type"] for e in received] == ["SageMaker Model Package State Change"] * 2
    assert [e["detail"]["ModelApprovalStatus"] for e in received] == ["PendingManualApproval", "Approved"]
    assert all(e["source"] == "aws.sagemaker" and e["resources"] == [arn] for e in received)
    assert received[1]["detail"]["ModelPackageVersion"] == 1

    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"] == "s3://b/statistics.json"
    # an update that changes only the status keeps the approval description (moto would clear it)
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    assert sm.describe_model_package(ModelPackageName=arn)["ApprovalDescription"] == "looks good"


def test_a_model_can_come_from_a_package_and_missing_ones_are_refused(localcloud: LocalCloud) -> None:
    sm = localcloud.client("sagemaker")
    tag = uuid.uuid4().hex[:8]
    sm.create_model_package_group(ModelPackageGroupName=f"g-{tag}")
    arn = sm.create_model_package(ModelPackageGroupName=f"g-{tag}", InferenceSpecification={
        "Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    sm.create_model(ModelName=f"m-{tag}", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn})
    assert sm.describe_model(ModelName=f"m-{tag}")["PrimaryContainer"]["ModelPackageName"] == arn
    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName=f"m2-{tag}", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"ModelPackageName": f"{arn[:-1]}99"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
