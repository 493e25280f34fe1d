"""localcloud's CloudFormation through the API: each resource type it adds, updates, rollbacks, conditions, change sets.

Every check reads the resource back through its own service's API: a stack that says
CREATE_COMPLETE over resources that do not exist would pass nothing here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lc_fixtures import ROLE, SKLEARN_IMAGE
from support import LocalCloud, wait_until

TERMINAL = {"CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}
POLICY = {"Version": "2012-10-17"}
TRUST = {**POLICY, "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                  "Principal": {"Service": "sagemaker.amazonaws.com"}}]}


class Stacks:
    """Create, update and delete one test's stacks and wait for each operation to end."""

    def __init__(self, localcloud: LocalCloud):
        self.cf = localcloud.client("cloudformation")
        self.tag = uuid.uuid4().hex[:8]
        self.ids: dict[str, str] = {}

    def _settle(self, name: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            stack = self.cf.describe_stacks(StackName=self.ids[name])["Stacks"][0]
            return stack if stack["StackStatus"] in TERMINAL else None

        stack = wait_until(done, 60, 0.05)
        assert stack, f"stack {name} did not settle"
        return stack  # type: ignore[return-value]

    def create(self, name: str, template: dict[str, Any], **parameters: str) -> dict[str, Any]:
        self.ids[name] = self.cf.create_stack(StackName=f"{name}-{self.tag}", TemplateBody=json.dumps(template),
                                              Parameters=_parameters(parameters))["StackId"]
        return self._settle(name)

    def update(self, name: str, template: dict[str, Any], **parameters: str) -> dict[str, Any]:
        self.cf.update_stack(StackName=self.ids[name], TemplateBody=json.dumps(template),
                             Parameters=_parameters(parameters))
        return self._settle(name)

    def delete(self, name: str) -> dict[str, Any]:
        self.cf.delete_stack(StackName=self.ids[name])
        return self._settle(name)

    def physical(self, name: str, logical_id: str) -> str:
        resource = self.cf.describe_stack_resource(StackName=self.ids[name], LogicalResourceId=logical_id)
        return resource["StackResourceDetail"]["PhysicalResourceId"]

    def failure(self, name: str) -> str:
        """The reason of the first resource that failed."""
        events = self.cf.describe_stack_events(StackName=self.ids[name])["StackEvents"]
        failed = [e for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED")]
        return str(failed[0].get("ResourceStatusReason", "")) if failed else ""


def _parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _statement(sid: str, principal: str, action: str, resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"Service": principal}, "Action": action,
            "Resource": resource}


@pytest.fixture
def stacks(localcloud: LocalCloud) -> Stacks:
    return Stacks(localcloud)


# ---------------------------------------------------------------------------------------- resource types


def _policies(sid: str) -> dict[str, Any]:
    def document(principal: str, action: str, resource: Any) -> dict[str, Any]:
        return {**POLICY, "Statement": [_statement(sid, principal, action, resource)]}

    return {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "BucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Bucket"},
            "PolicyDocument": document("logging.s3.amazonaws.com", "s3:PutObject", {"Fn::Sub": "${Bucket.Arn}/*"})}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [{"Ref": "Topic"}],
            "PolicyDocument": document("cloudwatch.amazonaws.com", "sns:Publish", {"Ref": "Topic"})}},
        "Queue": {"Type": "AWS::SQS::Queue"},
        "QueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": "Queue"}],
            "PolicyDocument": document("sns.amazonaws.com", "sqs:SendMessage", {"Fn::GetAtt": ["Queue", "Arn"]})}},
        "Subscription": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
            "RawMessageDelivery": True}},
    }}


def test_policies_and_subscriptions_exist_update_in_place_and_go_with_the_stack(localcloud: LocalCloud,
                                                                                stacks: Stacks) -> None:
    s3, sns, sqs = (localcloud.client(s) for s in ("s3", "sns", "sqs"))
    assert stacks.create("policies", _policies("First"))["StackStatus"] == "CREATE_COMPLETE"
    bucket, topic, queue = (stacks.physical("policies", n) for n in ("Bucket", "Topic", "Queue"))

    def sids() -> list[str]:
        documents = [s3.get_bucket_policy(Bucket=bucket)["Policy"],
                     sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"],
                     sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])["Attributes"]["Policy"]]
        return [json.loads(d)["Statement"][-1]["Sid"] for d in documents]

    assert sids() == ["First"] * 3
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["Protocol"] == "sqs" and subscription["Endpoint"].endswith(queue.rsplit("/", 1)[-1])
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"

    assert stacks.update("policies", _policies("Second"))["StackStatus"] == "UPDATE_COMPLETE"
    assert sids() == ["Second"] * 3
    assert stacks.physical("policies", "BucketPolicy") == bucket  # in place: a bucket policy's id is its bucket

    assert stacks.delete("policies")["StackStatus"] == "DELETE_COMPLETE"
    assert topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert not [s for s in sns.list_subscriptions()["Subscriptions"] if s["TopicArn"] == topic]


def _operations(threshold: int, description: str, definition_message: str) -> dict[str, Any]:
    definition = {"Version": "2020-12-01", "Steps": [
        {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": definition_message}}]}
    return {"Resources": {
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "Namespace": "Test", "MetricName": "Errors", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold"}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": TRUST,
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "Policies": [{"PolicyName": "logs", "PolicyDocument": {**POLICY, "Statement": [
                {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}}]}},
        "Group": {"Type": "AWS::SageMaker::ModelPackageGroup", "Properties": {
            "ModelPackageGroupName": {"Fn::Sub": "g-${AWS::StackName}"}}},
        "Pipeline": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
            "PipelineName": {"Fn::Sub": "p-${AWS::StackName}"}, "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
            "PipelineDefinition": {"PipelineDefinitionBody": json.dumps(definition)}}},
    }}


def test_alarm_role_group_and_pipeline_exist_and_update_in_place(localcloud: LocalCloud, stacks: Stacks) -> None:
    cw, iam, sm = (localcloud.client(s) for s in ("cloudwatch", "iam", "sagemaker"))
    assert stacks.create("ops", _operations(1, "first", "one"))["StackStatus"] == "CREATE_COMPLETE"
    alarm, role, group, pipeline = (stacks.physical("ops", n) for n in ("Alarm", "Role", "Group", "Pipeline"))
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["Threshold"] == 1
    assert iam.get_role(RoleName=role)["Role"]["Description"] == "first"
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]] == [
        "ReadOnlyAccess"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["logs"]
    group_name = group.rsplit("/", 1)[-1]
    assert sm.describe_model_package_group(ModelPackageGroupName=group_name)["ModelPackageGroupStatus"] == "Completed"
    assert "one" in sm.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"]

    assert stacks.update("ops", _operations(5, "second", "two"))["StackStatus"] == "UPDATE_COMPLETE"
    assert [stacks.physical("ops", n) for n in ("Alarm", "Role", "Group", "Pipeline")] == [alarm, role, group,
                                                                                             pipeline]
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["Threshold"] == 5
    assert iam.get_role(RoleName=role)["Role"]["Description"] == "second"
    assert "two" in sm.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"]

    assert stacks.delete("ops")["StackStatus"] == "DELETE_COMPLETE"
    assert not cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    with pytest.raises(ClientError):
        iam.get_role(RoleName=role)
    with pytest.raises(ClientError):
        sm.describe_pipeline(PipelineName=pipeline)


def _serving(variable: str, max_capacity: int) -> dict[str, Any]:
    return {"Resources": {
        "Model": {"Type": "AWS::SageMaker::Model", "Properties": {
            "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/m.tar.gz",
                                                          "Environment": {"VARIANT": variable}}}},
        "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
            "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]}},
        "Target": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
            "ServiceNamespace": "sagemaker",
            "ResourceId": {"Fn::Sub": "endpoint/e-${AWS::StackName}/variant/AllTraffic"},
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 1,
            "MaxCapacity": max_capacity}},
        "Policy": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {
            "PolicyName": "per-instance", "PolicyType": "TargetTrackingScaling", "ScalingTargetId": {"Ref": "Target"},
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}}},
    }}


def test_models_and_configs_are_replaced_on_change_and_scaling_updates_in_place(localcloud: LocalCloud,
                                                                                stacks: Stacks) -> None:
    sm, scaling = localcloud.client("sagemaker"), localcloud.client("application-autoscaling")
    assert stacks.create("serving", _serving("a", 2))["StackStatus"] == "CREATE_COMPLETE"
    model, config = (stacks.physical("serving", n).rsplit("/", 1)[-1] for n in ("Model", "Config"))
    resource = f"endpoint/e-serving-{stacks.tag}/variant/AllTraffic"

    def target() -> dict[str, Any]:
        [found] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
            "ScalableTargets"]
        return found

    assert target()["MaxCapacity"] == 2
    assert [p["PolicyName"] for p in scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]] == ["per-instance"]

    assert stacks.update("serving", _serving("b", 3))["StackStatus"] == "UPDATE_COMPLETE"
    new_model, new_config = (stacks.physical("serving", n).rsplit("/", 1)[-1] for n in ("Model", "Config"))
    assert new_model != model and new_config != config  # create-only properties: replaced, then the old deleted
    assert sm.describe_model(ModelName=new_model)["PrimaryContainer"]["Environment"] == {"VARIANT": "b"}
    names = [m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]]
    assert new_model in names and model not in names
    assert target()["MaxCapacity"] == 3

    assert stacks.delete("serving")["StackStatus"] == "DELETE_COMPLETE"
    assert not scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
        "ScalableTargets"]
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=new_config)


# ---------------------------------------------------------------------------------------- failures and rollback


def test_invalid_properties_fail_the_resource_with_the_schema_reason_and_the_create_rolls_back(
        localcloud: LocalCloud, stacks: Stacks) -> None:
    sns = localcloud.client("sns")
    template = {"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"rollback-{stacks.tag}"}},
        "Policy": {"Type": "AWS::SNS::TopicPolicy", "DependsOn": "Topic",
                   "Properties": {"Topics": [{"Ref": "Topic"}], "Bogus": 1}},
    }}
    assert stacks.create("invalid", template)["StackStatus"] == "ROLLBACK_COMPLETE"
    reason = stacks.failure("invalid")
    assert reason.startswith("Properties validation failed for resource Policy with message: ")
    assert "required key [PolicyDocument] not found" in reason and "extraneous key [Bogus]" in reason
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":rollback-{stacks.tag}")]


def _alarm(threshold: int) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": {"Fn::Sub": "${AWS::StackName}-errors"}, "Namespace": "Test", "MetricName": "Errors",
        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold"}}


def test_a_failed_update_restores_what_it_modified_and_removes_what_it_added(localcloud: LocalCloud,
                                                                             stacks: Stacks) -> None:
    cw, sns = localcloud.client("cloudwatch"), localcloud.client("sns")
    assert stacks.create("update", {"Resources": {"Alarm": _alarm(1)}})["StackStatus"] == "CREATE_COMPLETE"
    alarm = stacks.physical("update", "Alarm")
    broken = {"Resources": {
        "Alarm": _alarm(9),
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"added-{stacks.tag}"}},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "DependsOn": ["Alarm", "Topic"], "Properties": {
            "Bucket": f"no-such-bucket-{stacks.tag}", "PolicyDocument": {**POLICY, "Statement": []}}},
    }}
    stack = stacks.update("update", broken)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "[Policy]" in stack["StackStatusReason"] and "bucket does not exist" in stacks.failure("update")
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["Threshold"] == 1
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":added-{stacks.tag}")]
    assert stacks.update("update", {"Resources": {"Alarm": _alarm(2)}})["StackStatus"] == "UPDATE_COMPLETE"


def test_a_resource_named_in_the_template_cannot_be_replaced(stacks: Stacks) -> None:
    def role(path: str) -> dict[str, Any]:
        return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": f"named-{stacks.tag}", "Path": path, "AssumeRolePolicyDocument": TRUST}}}}

    assert stacks.create("named", role("/"))["StackStatus"] == "CREATE_COMPLETE"
    assert stacks.update("named", role("/team/"))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stacks.failure("named").endswith(f"CloudFormation cannot update a stack when a custom-named resource "
                                            f"requires replacing. Rename named-{stacks.tag} and update the stack "
                                            f"again.")


def test_a_resource_that_cannot_be_deleted_leaves_delete_failed_saying_why(localcloud: LocalCloud,
                                                                           stacks: Stacks) -> None:
    sm = localcloud.client("sagemaker")
    template = {"Resources": {"Group": {"Type": "AWS::SageMaker::ModelPackageGroup", "Properties": {
        "ModelPackageGroupName": f"held-{stacks.tag}"}}}}
    assert stacks.create("held", template)["StackStatus"] == "CREATE_COMPLETE"
    package = sm.create_model_package(
        ModelPackageGroupName=f"held-{stacks.tag}", InferenceSpecification={
            "Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    stack = stacks.delete("held")
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "[Group]" in stack["StackStatusReason"] and "contains 1 model package" in stacks.failure("held")
    sm.delete_model_package(ModelPackageName=package)
    assert stacks.delete("held")["StackStatus"] == "DELETE_COMPLETE"


# ---------------------------------------------------------------------------------------- parameters and conditions


TOGGLED = {
    "Parameters": {"Enabled": {"Type": "String", "AllowedValues": ["yes", "no"], "Default": "no"}},
    "Conditions": {"On": {"Fn::Equals": [{"Ref": "Enabled"}, "yes"]}},
    "Resources": {
        "Always": {"Type": "AWS::SNS::Topic"},
        "Sometimes": {"Type": "AWS::SNS::Topic", "Condition": "On"},
        "Chosen": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "Namespace": "Test", "MetricName": "Errors", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": {"Fn::If": ["On", 10, 1]}, "ComparisonOperator": "GreaterThanThreshold"}},
    },
    "Outputs": {"SometimesArn": {"Value": {"Ref": "Sometimes"}, "Condition": "On"}},
}


def _change_actions(cf: Any, stack_id: str, name: str, **parameters: str) -> dict[str, str]:
    cf.create_change_set(StackName=stack_id, ChangeSetName=name, TemplateBody=json.dumps(TOGGLED),
                         ChangeSetType="UPDATE", Parameters=_parameters(parameters))
    changes = cf.describe_change_set(StackName=stack_id, ChangeSetName=name)["Changes"]
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"] for c in changes}


def test_a_condition_adds_and_removes_its_resources_when_a_parameter_changes(localcloud: LocalCloud,
                                                                             stacks: Stacks) -> None:
    cf, cw = stacks.cf, localcloud.client("cloudwatch")
    stack = stacks.create("toggled", TOGGLED)
    assert stack["StackStatus"] == "CREATE_COMPLETE" and "Outputs" not in stack
    listed = {r["LogicalResourceId"] for r in cf.list_stack_resources(StackName=stacks.ids["toggled"])[
        "StackResourceSummaries"]}
    assert listed == {"Always", "Chosen"}
    assert _change_actions(cf, stacks.ids["toggled"], "on", Enabled="yes") == {"Sometimes": "Add",
                                                                               "Chosen": "Modify"}

    stack = stacks.update("toggled", TOGGLED, Enabled="yes")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    [output] = stack["Outputs"]
    topic = stacks.physical("toggled", "Sometimes")
    assert output["OutputValue"] == topic
    alarm = stacks.physical("toggled", "Chosen")
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["Threshold"] == 10

    assert _change_actions(cf, stacks.ids["toggled"], "off", Enabled="no") == {"Sometimes": "Remove",
                                                                               "Chosen": "Modify"}
    assert stacks.update("toggled", TOGGLED, Enabled="no")["StackStatus"] == "UPDATE_COMPLETE"
    assert topic not in [t["TopicArn"] for t in localcloud.client("sns").list_topics()["Topics"]]


def test_bad_parameter_values_are_refused_by_the_call_and_make_no_stack(stacks: Stacks) -> None:
    with pytest.raises(ClientError) as caught:
        stacks.create("refused", TOGGLED, Enabled="maybe")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["Error"]["Message"] == "Parameter 'Enabled' must be one of AllowedValues"
    assert not [s for s in stacks.cf.describe_stacks()["Stacks"] if s["StackName"] == f"refused-{stacks.tag}"]


def test_no_change_updates_and_change_sets_answer_as_aws_does(stacks: Stacks) -> None:
    cf = stacks.cf
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    stacks.create("same", template)
    stack_id = stacks.ids["same"]
    with pytest.raises(ClientError, match=r"No updates are to be performed\."):
        cf.update_stack(StackName=stack_id, TemplateBody=json.dumps(template))
    cf.create_change_set(StackName=stack_id, ChangeSetName="again", TemplateBody=json.dumps(template),
                         ChangeSetType="UPDATE")
    described = cf.describe_change_set(StackName=stack_id, ChangeSetName="again")
    assert described["Status"] == "FAILED" and "didn't contain changes" in described["StatusReason"]
    with pytest.raises(ClientError) as caught:
        cf.describe_change_set(StackName=stack_id, ChangeSetName="never-made")
    assert caught.value.response["Error"]["Code"] == "ChangeSetNotFound"  # the wire code of ChangeSetNotFoundException
    cf.delete_change_set(StackName=stack_id, ChangeSetName="never-made")  # succeeds: the stack exists
    with pytest.raises(ClientError):
        cf.delete_change_set(StackName=f"no-stack-{stacks.tag}", ChangeSetName="never-made")


def test_a_bucket_with_objects_is_not_deleted_with_its_stack(localcloud: LocalCloud, stacks: Stacks) -> None:
    s3 = localcloud.client("s3")
    assert stacks.create("data", {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}})["StackStatus"] == \
        "CREATE_COMPLETE"
    bucket = stacks.physical("data", "Bucket")
    s3.put_object(Bucket=bucket, Key="kept.txt", Body=b"data")
    assert stacks.delete("data")["StackStatus"] == "DELETE_FAILED"
    assert stacks.failure("data") == "BucketNotEmpty: The bucket you tried to delete is not empty"
    assert s3.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"data"
    s3.delete_object(Bucket=bucket, Key="kept.txt")
    assert stacks.delete("data")["StackStatus"] == "DELETE_COMPLETE"
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def _buckets(versioning: str, days: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Resources": {
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}},
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/data"}}]},
            "VersioningConfiguration": {"Status": versioning},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": days,
                                                  "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "Logs"}, "LogFilePrefix": "data/"},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "Tags": [{"Key": "team", "Value": "ml"}], **(extra or {})}},
    }}


def test_a_bucket_gets_every_configuration_its_template_gives_and_changes_it_in_place(localcloud: LocalCloud,
                                                                                       stacks: Stacks) -> None:
    s3 = localcloud.client("s3")
    assert stacks.create("buckets", _buckets("Enabled", 7))["StackStatus"] == "CREATE_COMPLETE"
    data, logs = stacks.physical("buckets", "Data"), stacks.physical("buckets", "Logs")
    assert s3.get_bucket_versioning(Bucket=data)["Status"] == "Enabled"
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=data)["Rules"]
    assert (rule["ID"], rule["Expiration"]["Days"], rule["NoncurrentVersionExpiration"]["NoncurrentDays"]) == (
        "expire", 7, 30)
    assert s3.get_bucket_logging(Bucket=data)["LoggingEnabled"] == {"TargetBucket": logs, "TargetPrefix": "data/"}
    assert all(s3.get_public_access_block(Bucket=data)["PublicAccessBlockConfiguration"].values())
    encryption = s3.get_bucket_encryption(Bucket=data)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "alias/data"
    assert s3.get_bucket_tagging(Bucket=data)["TagSet"] == [{"Key": "team", "Value": "ml"}]
    assert s3.get_bucket_ownership_controls(Bucket=logs)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]

    assert stacks.update("buckets", _buckets("Suspended", 3))["StackStatus"] == "UPDATE_COMPLETE"
    assert stacks.physical("buckets", "Data") == data  # in place
    assert s3.get_bucket_versioning(Bucket=data)["Status"] == "Suspended"
    assert s3.get_bucket_lifecycle_configuration(Bucket=data)["Rules"][0]["Expiration"]["Days"] == 3

    website = {"WebsiteConfiguration": {"IndexDocument": "index.html"}}
    assert stacks.update("buckets", _buckets("Suspended", 3, website))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stacks.failure("buckets") == "localcloud does not apply the bucket properties WebsiteConfiguration yet"
    # requests to the data bucket were logged into the log bucket, which therefore cannot go yet
    assert s3.list_objects_v2(Bucket=logs, Prefix="data/")["KeyCount"] > 0
    assert stacks.delete("buckets")["StackStatus"] == "DELETE_FAILED"
    assert data not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=logs):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=logs, Key=item["Key"])
    assert stacks.delete("buckets")["StackStatus"] == "DELETE_COMPLETE"


def test_an_update_with_a_role_makes_it_the_stacks_role(stacks: Stacks) -> None:
    topic = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    assert stacks.create("role", topic)["StackStatus"] == "CREATE_COMPLETE"
    assert "RoleARN" not in stacks.cf.describe_stacks(StackName=stacks.ids["role"])["Stacks"][0]
    deployer = "arn:aws:iam::123456789012:role/cfn-deployer"
    stacks.cf.update_stack(StackName=stacks.ids["role"], RoleARN=deployer, TemplateBody=json.dumps(
        {"Resources": {**topic["Resources"], "Queue": {"Type": "AWS::SQS::Queue"}}}))
    stack = stacks._settle("role")
    assert (stack["StackStatus"], stack["RoleARN"]) == ("UPDATE_COMPLETE", deployer)


def _monitoring(expression: str) -> dict[str, Any]:
    analyzer = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    output = {"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://reports/x", "LocalPath": "/opt/ml/processing/o"}}]}
    resources = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}}
    endpoint = {"EndpointName": "watched", "LocalPath": "/opt/ml/processing/input"}
    return {"Resources": {
        "DataQuality": {"Type": "AWS::SageMaker::DataQualityJobDefinition", "Properties": {
            "RoleArn": ROLE, "DataQualityAppSpecification": {"ImageUri": analyzer},
            "DataQualityJobInput": {"EndpointInput": endpoint}, "DataQualityJobOutputConfig": output,
            "JobResources": resources}},
        "ModelQuality": {"Type": "AWS::SageMaker::ModelQualityJobDefinition", "Properties": {
            "RoleArn": ROLE, "ModelQualityAppSpecification": {"ImageUri": analyzer, "ProblemType": "Regression"},
            "ModelQualityJobInput": {"EndpointInput": endpoint, "GroundTruthS3Input": {"S3Uri": "s3://truth/x"}},
            "ModelQualityJobOutputConfig": output, "JobResources": resources}},
        "Schedule": {"Type": "AWS::SageMaker::MonitoringSchedule", "Properties": {
            "MonitoringScheduleName": {"Fn::Sub": "watch-${AWS::StackName}"},  # required by CloudFormation
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": {"Fn::GetAtt": ["DataQuality", "JobDefinitionName"]},
                "MonitoringType": "DataQuality", "ScheduleConfig": {"ScheduleExpression": expression}}}},
    }}


def test_monitoring_definitions_and_schedules_exist_update_and_go(localcloud: LocalCloud, stacks: Stacks) -> None:
    sm = localcloud.client("sagemaker")
    assert stacks.create("monitor", _monitoring("cron(0 * ? * * *)"))["StackStatus"] == "CREATE_COMPLETE"
    schedule = stacks.physical("monitor", "Schedule").rsplit("/", 1)[-1]
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)
    assert (described["MonitoringScheduleStatus"], described["EndpointName"]) == ("Scheduled", "watched")
    quality = stacks.physical("monitor", "ModelQuality").rsplit("/", 1)[-1]
    assert sm.describe_model_quality_job_definition(JobDefinitionName=quality)["ModelQualityAppSpecification"][
        "ProblemType"] == "Regression"

    assert stacks.update("monitor", _monitoring("cron(0 6 ? * * *)"))["StackStatus"] == "UPDATE_COMPLETE"
    assert stacks.physical("monitor", "Schedule").rsplit("/", 1)[-1] == schedule  # in place
    assert sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)["MonitoringScheduleConfig"][
        "ScheduleConfig"]["ScheduleExpression"] == "cron(0 6 ? * * *)"

    bad = stacks.update("monitor", _monitoring("rate(1 hour)"))
    assert bad["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "Invalid ScheduleExpression" in stacks.failure("monitor")

    assert stacks.delete("monitor")["StackStatus"] == "DELETE_COMPLETE"
    assert schedule not in [s["MonitoringScheduleName"]
                            for s in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]]


def _composite(rule: Any) -> dict[str, Any]:
    return {"Resources": {
        "Child": _alarm(1),
        "Either": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {
            "AlarmName": {"Fn::Sub": "${AWS::StackName}-either"}, "AlarmRule": rule,
            "AlarmDescription": "the child, or not"}}}}


def test_a_composite_alarm_follows_its_child_updates_in_place_and_refuses_a_bad_rule(localcloud: LocalCloud,
                                                                                     stacks: Stacks) -> None:
    cw = localcloud.client("cloudwatch")
    by_arn = {"Fn::Sub": 'ALARM("${Child.Arn}") OR FALSE'}  # as CDK writes it: the child's Arn orders the two
    assert stacks.create("composite", _composite(by_arn))["StackStatus"] == "CREATE_COMPLETE"
    name, child = stacks.physical("composite", "Either"), stacks.physical("composite", "Child")
    [composite] = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert (composite["StateValue"], composite["AlarmDescription"]) == ("OK", "the child, or not")
    cw.set_alarm_state(AlarmName=child, StateValue="ALARM", StateReason="test")
    assert cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0][
        "StateValue"] == "ALARM"

    negated = {"Fn::Sub": 'NOT ALARM("${Child.Arn}")'}
    assert stacks.update("composite", _composite(negated))["StackStatus"] == "UPDATE_COMPLETE"
    assert stacks.physical("composite", "Either") == name  # in place
    [composite] = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert (composite["AlarmRule"], composite["StateValue"]) == (f'NOT ALARM("{_arn(cw, child)}")', "OK")

    assert stacks.update("composite", _composite("ALARM(x) AND"))["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "AlarmRule" in stacks.failure("composite")
    assert cw.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0][
        "AlarmRule"].startswith("NOT ALARM")

    assert stacks.delete("composite")["StackStatus"] == "DELETE_COMPLETE"
    assert not cw.describe_alarms(AlarmNames=[name, child], AlarmTypes=["CompositeAlarm", "MetricAlarm"])[
        "CompositeAlarms"]


def _arn(cw: Any, alarm: str) -> str:
    return str(cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"])
