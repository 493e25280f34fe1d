"""The CDK app, synthesized in-process and checked with aws_cdk.assertions: every concern and its security."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.app import build
from infra.config import STAGES
from training.preprocess import FEATURES

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/sagestack-local-taxi-duration-0/3"
PIN = "ab" * 32


def synth(**context: Any) -> Template:
    app = cdk.App(context={"sagestack:stage": "local", **context})
    return Template.from_stack(build(app))


@pytest.fixture(scope="module")
def template() -> Template:
    return synth()


def resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


# ------------------------------------------------------------------------------------------ storage


def test_key_rotates_and_lets_alarms_use_it_only_through_sns(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    [key] = resources(template, "AWS::KMS::Key").values()
    [alarms] = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert set(alarms["Condition"]["StringEquals"]) == {"kms:ViaService", "aws:SourceAccount"}


def test_data_artifacts_and_capture_buckets_are_encrypted_private_and_logged(template: Template) -> None:
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {"BucketEncryption": {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}}})
    assert len(buckets) == 3
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}
        assert "LoggingConfiguration" in bucket["Properties"]
    versioned = [b for b in buckets.values() if b["Properties"].get("VersioningConfiguration")]
    assert len(versioned) == 1  # the artifacts: a registered package keeps pointing at its bytes


def test_capture_expires_and_old_artifact_versions_expire(template: Template) -> None:
    rules = [r for b in resources(template, "AWS::S3::Bucket").values()
             for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])]
    assert {"ExpirationInDays": STAGES["local"].capture_retention_days, "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}} in rules
    assert any(r.get("NoncurrentVersionExpiration") == {"NoncurrentDays": 90} for r in rules)


def test_every_bucket_refuses_plain_http(template: Template) -> None:
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_local_stage_does_not_retain_data_and_prod_does_and_access_logs_stay_in_both(template: Template) -> None:
    policies = {k: r.get("DeletionPolicy") for k, r in resources(template, "AWS::S3::Bucket").items()}
    assert [k for k, p in policies.items() if p == "Retain"] == [k for k in policies if "AccessLogs" in k]
    assert sum(p == "Delete" for p in policies.values()) == 3
    prod = Template.from_stack(build(cdk.App(context={"sagestack:stage": "prod"})))
    prod.all_resources("AWS::S3::Bucket", Match.object_like({"DeletionPolicy": "Retain"}))


# ------------------------------------------------------------------------------------------ IAM


def _statements(template: Template) -> list[dict[str, Any]]:
    return [s for p in resources(template, "AWS::IAM::Policy").values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_no_policy_grants_a_wildcard_action(template: Template) -> None:
    for statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") or "*" in a for a in actions), statement
        if statement.get("Resource") == "*":
            assert set(actions) <= {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}, statement


def test_metrics_are_limited_to_sagemaker_namespaces(template: Template) -> None:
    metrics = [s for s in _statements(template) if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics and all(s["Condition"]["StringLike"]["cloudwatch:namespace"] for s in metrics)


def test_roles_are_assumed_by_the_services_that_use_them(template: Template) -> None:
    principals = sorted(r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
                        for r in resources(template, "AWS::IAM::Role").values())
    assert principals == ["events.amazonaws.com", "lambda.amazonaws.com", "sagemaker.amazonaws.com",
                          "sagemaker.amazonaws.com"]


def test_roles_are_passed_only_to_the_service_each_is_for(template: Template) -> None:
    passing = {s["Sid"]: s for s in _statements(template) if s["Action"] == "iam:PassRole"}
    assert set(passing) == {"PassRoleToJobs", "DeployWithTheCdkRole"}
    assert passing["PassRoleToJobs"]["Condition"] == {"StringEquals": {"iam:PassedToService":
                                                                           "sagemaker.amazonaws.com"}}
    assert passing["DeployWithTheCdkRole"]["Condition"] == {"StringEquals": {"iam:PassedToService":
                                                                                 "cloudformation.amazonaws.com"}}


# ------------------------------------------------------------------------------------------ pipeline, registry


def test_the_pipeline_definition_comes_from_pipelines_with_real_names(template: Template) -> None:
    [pipeline] = resources(template, "AWS::SageMaker::Pipeline").values()
    props = pipeline["Properties"]
    assert props["PipelineName"] == STAGES["local"].pipeline_name
    body = props["PipelineDefinition"]["PipelineDefinitionBody"]
    text = json.dumps(body)
    assert "placeholder" not in text
    literal = "".join(part for part in body["Fn::Join"][1] if isinstance(part, str))
    assert '"Name":"Preprocess"' in literal and '"Name":"RmseGate"' in literal
    assert "cdk-hnb659fds-assets-123456789012-us-east-1" in literal  # job code lives in CDK assets


def test_job_code_ships_as_content_hashed_assets() -> None:
    app = cdk.App(context={"sagestack:stage": "local"})
    stack = build(app)
    assembly = app.synth()
    manifest = json.loads(Path(assembly.directory, f"{stack.stack_name}.assets.json").read_text())
    files = manifest["files"]
    names = {f["source"]["path"].rsplit(".", 1)[-1] for f in files.values()}
    assert {"py", "gz", "json"} <= names  # scripts, source tarballs, the template
    keys = [d["objectKey"] for f in files.values() for d in f["destinations"].values()]
    assert all(re.fullmatch(r"[0-9a-f]{64}\.(py|gz|json|zip)", k) for k in keys), keys  # zip: a function's code


def test_model_package_group_is_retained_with_a_per_stack_name(template: Template) -> None:
    template.has_resource("AWS::SageMaker::ModelPackageGroup", {"DeletionPolicy": "Retain"})
    [group] = resources(template, "AWS::SageMaker::ModelPackageGroup").values()
    assert "AWS::StackId" in json.dumps(group["Properties"]["ModelPackageGroupName"])


# ------------------------------------------------------------------------------------------ serving


SERVING_TYPES = {"AWS::SageMaker::Model", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Endpoint",
                 "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"}


def test_serving_exists_only_when_the_package_parameter_names_one(template: Template) -> None:
    found = {kind: resources(template, kind) for kind in SERVING_TYPES}
    assert all(len(r) == 1 for r in found.values()), found
    for kind, named in found.items():
        [resource] = named.values()
        assert resource["Condition"] == "Serving", kind
    conditions = template.to_json()["Conditions"]
    assert conditions["Serving"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ModelPackageArn"}, ""]}]}
    assert template.find_outputs("ServedModelPackageArn")["ServedModelPackageArn"]["Condition"] == "Serving"


def test_the_package_and_its_digest_are_validated_parameters_that_go_together(template: Template) -> None:
    parameters = template.to_json()["Parameters"]
    package, digest = parameters["ModelPackageArn"], parameters["ModelSha256"]
    assert package["Default"] == digest["Default"] == ""
    assert re.fullmatch(package["AllowedPattern"], PACKAGE) and re.fullmatch(package["AllowedPattern"], "")
    for bad in ("arn:aws:sagemaker:us-east-1:123456789012:model-package/group", "x", PACKAGE + "/1"):
        assert not re.fullmatch(package["AllowedPattern"], bad), bad
    assert re.fullmatch(digest["AllowedPattern"], PIN) and not re.fullmatch(digest["AllowedPattern"], PIN.upper())
    rule = template.to_json()["Rules"]["ServedModelIsPinned"]
    [assertion] = rule["Assertions"]
    assert "go together" in assertion["AssertDescription"]
    text = json.dumps(assertion["Assert"])
    assert '{"Ref": "ModelPackageArn"}' in text and '{"Ref": "ModelSha256"}' in text


def test_the_endpoint_serves_the_package_with_its_pin_capture_and_kms(template: Template) -> None:
    template.has_resource_properties("AWS::SageMaker::Model", {"PrimaryContainer": {
        "ModelPackageName": {"Ref": "ModelPackageArn"},
        "Environment": {"SAGESTACK_MODEL_SHA256": {"Ref": "ModelSha256"}}}})
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "KmsKeyId": Match.any_value(),
        "DataCaptureConfig": Match.object_like({"EnableCapture": True, "InitialSamplingPercentage": 100,
                                                "KmsKeyId": Match.any_value()})})
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": STAGES["local"].endpoint_name})


def test_the_endpoint_scales_on_invocations_per_instance(template: Template) -> None:
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "MinCapacity": 2, "MaxCapacity": 4, "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"})
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({"PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})})


def test_a_new_model_goes_out_as_a_canary_rolled_back_by_the_endpoint_alarms_and_one_on_the_new_fleet(
        template: Template) -> None:
    prefix, serving = STAGES["local"].prefix, STAGES["local"].serving
    [endpoint] = resources(template, "AWS::SageMaker::Endpoint").values()
    deployment = endpoint["Properties"]["DeploymentConfig"]
    assert deployment["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                                        "WaitIntervalInSeconds": serving.bake_seconds},
        "TerminationWaitInSeconds": serving.termination_wait_seconds,
        "MaximumExecutionTimeoutInSeconds": serving.deployment_timeout_seconds}
    alarms = {logical: a["Properties"] for logical, a in resources(template, "AWS::CloudWatch::Alarm").items()}
    named = [alarms[a["AlarmName"]["Ref"]]["AlarmName"]  # by Ref: CloudFormation updates the alarms first
             for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    assert named == [f"{prefix}-endpoint-5xx", f"{prefix}-endpoint-latency-p99",
                     f"{prefix}-endpoint-new-fleet-latency-p99"]
    new_fleet = next(a for a in alarms.values() if a["AlarmName"] == named[2])
    dimensions = {d["Name"]: d["Value"] for d in new_fleet["Dimensions"]}
    assert dimensions["EndpointConfigName"] == {"Fn::GetAtt": [endpoint["Properties"]["EndpointConfigName"][
        "Fn::GetAtt"][0], "EndpointConfigName"]}  # the config the endpoint is being moved to
    assert new_fleet["MetricName"] == "ModelLatency" and new_fleet["ExtendedStatistic"] == "p99"
    [read] = [s for s in _statements(template) if s.get("Sid") == "ReadRollbackAlarms"]
    assert read["Action"] == "cloudwatch:DescribeAlarms" and len(read["Resource"]) == 3


def test_an_approval_invokes_a_python_function_that_may_only_update_this_stack(template: Template) -> None:
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources(template, "AWS::Events::Rule").values()}
    approved = rules[f"{STAGES['local'].prefix}-model-approved"]
    [(function_id, function)] = resources(template, "AWS::Lambda::Function").items()
    assert {"Fn::GetAtt": [function_id, "Arn"]} in [t["Arn"] for t in approved["Targets"]]
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.13" and properties["Handler"] == "handler.handler"
    assert set(properties["Environment"]["Variables"]) >= {"STACK_NAME", "PACKAGE_PARAMETER", "DIGEST_PARAMETER",
                                                           "CLOUDFORMATION_ROLE_ARN"}
    [permission] = resources(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    statements = {s.get("Sid"): s for s in _statements(template)}
    assert statements["UpdateThisStack"]["Resource"] == {"Ref": "AWS::StackId"}
    assert statements["DeployWithTheCdkRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


def test_the_approval_function_can_be_left_out_where_lambda_cannot_run() -> None:
    without = synth(**{"sagestack:approval-function": "false"})
    assert not resources(without, "AWS::Lambda::Function") and not resources(without, "AWS::Lambda::Permission")
    assert "DeployerFunctionName" not in without.find_outputs("*")
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources(without, "AWS::Events::Rule").values()}
    assert len(rules[f"{STAGES['local'].prefix}-model-approved"]["Targets"]) == 1  # still the alert topic


def test_stages_refuse_deployments_sagemaker_would_refuse() -> None:
    from infra.config import ServingConfig, StageConfig

    def problems(**serving: Any) -> str:
        with pytest.raises(ValueError) as refused:
            StageConfig(name="x", account=None, region="us-east-1", retain_data=False,
                        serving=ServingConfig(**serving))
        return str(refused.value)

    assert "at most half of the 1 serving instance(s)" in problems(traffic_routing="CANARY")
    assert "linear_step_percent must be 10-50" in problems(traffic_routing="LINEAR", linear_step_percent=5)
    assert "must be CANARY, LINEAR or ALL_AT_ONCE" in problems(traffic_routing="BLUE")
    assert "shorter than the 2 bake(s) of 3600 s" in problems(min_instances=2, max_instances=2,
                                                               traffic_routing="CANARY", bake_seconds=3600)
    assert "bake_seconds must be 0-3600" in problems(bake_seconds=-1)
    assert STAGES["dev"].serving.traffic_routing == "ALL_AT_ONCE"  # one instance: no canary possible


# ------------------------------------------------------------------------------------------ monitoring, alerts


def test_alarms_watch_errors_latency_drift_and_quality_and_notify_both_ways(template: Template) -> None:
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm")
              .values()}
    prefix = STAGES["local"].prefix
    assert set(alarms) == {f"{prefix}-endpoint-5xx", f"{prefix}-endpoint-latency-p99", f"{prefix}-data-drift",
                           f"{prefix}-model-quality-rmse", f"{prefix}-endpoint-new-fleet-latency-p99"}
    assert alarms[f"{prefix}-endpoint-5xx"]["MetricName"] == "Invocation5XXErrors"
    assert alarms[f"{prefix}-endpoint-latency-p99"]["ExtendedStatistic"] == "p99"
    drift = alarms[f"{prefix}-data-drift"]["Metrics"]
    drifted = {m["MetricStat"]["Metric"]["MetricName"] for m in drift if "MetricStat" in m}
    assert drifted == {f"feature_baseline_drift_{f}" for f in FEATURES}
    assert alarms[f"{prefix}-model-quality-rmse"]["Namespace"] == "aws/sagemaker/Endpoints/model-metrics"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] and alarm["OKActions"]


def test_retraining_watches_one_composite_alarm_of_drift_or_decay(template: Template) -> None:
    prefix = STAGES["local"].prefix
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    ids = {a["Properties"]["AlarmName"]: logical for logical, a in alarms.items()}
    [(composite_id, composite)] = resources(template, "AWS::CloudWatch::CompositeAlarm").items()
    assert composite["Properties"]["AlarmName"] == f"{prefix}-retraining-needed"
    rule = json.dumps(composite["Properties"]["AlarmRule"])
    assert rule.count("ALARM(") == 2 and " OR " in rule
    for child in (f"{prefix}-data-drift", f"{prefix}-model-quality-rmse"):
        assert ids[child] in rule  # by the child's Arn, so CloudFormation creates the children first
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources(template, "AWS::Events::Rule").values()}
    pattern = rules[f"{prefix}-retrain-on-alarm"]["EventPattern"]
    assert pattern["resources"] == [{"Fn::GetAtt": [composite_id, "Arn"]}]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}


def test_each_monitor_exists_only_with_its_baseline_and_runs_hourly(template: Template) -> None:
    from infra.outputs import QUALITY_CONSTRAINTS_PARAMETER

    conditions = template.to_json()["Conditions"]
    assert {"Monitored", "QualityMonitored"} <= set(conditions)
    assert {"Ref": QUALITY_CONSTRAINTS_PARAMETER} in json.loads(json.dumps(conditions["QualityMonitored"]))[
        "Fn::And"][1]["Fn::Not"][0]["Fn::Equals"]
    [data] = resources(template, "AWS::SageMaker::DataQualityJobDefinition").values()
    [quality] = resources(template, "AWS::SageMaker::ModelQualityJobDefinition").values()
    assert data["Condition"] == "Monitored" and quality["Condition"] == "QualityMonitored"
    q = quality["Properties"]
    assert q["ModelQualityAppSpecification"]["ProblemType"] == "Regression"
    assert q["ModelQualityAppSpecification"]["ImageUri"].endswith("/sagemaker-model-monitor-analyzer")
    assert q["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"] == {"Ref": QUALITY_CONSTRAINTS_PARAMETER}
    job_input = q["ModelQualityJobInput"]
    assert job_input["EndpointInput"]["InferenceAttribute"] == "0"
    assert "/ground-truth/" in json.dumps(job_input["GroundTruthS3Input"]["S3Uri"])
    schedules = {s["Properties"]["MonitoringScheduleName"]: s for s in
                 resources(template, "AWS::SageMaker::MonitoringSchedule").values()}
    config = STAGES["local"]
    assert set(schedules) == {config.data_quality_schedule, config.model_quality_schedule}
    quality_schedule = schedules[config.model_quality_schedule]
    assert quality_schedule["Condition"] == "QualityMonitored"
    assert quality_schedule["Properties"]["MonitoringScheduleConfig"]["MonitoringType"] == "ModelQuality"
    assert quality_schedule["Properties"]["MonitoringScheduleConfig"]["ScheduleConfig"] == {
        "ScheduleExpression": "cron(0 * ? * * *)"}


def test_alerts_go_to_an_encrypted_topic_with_a_queue_subscribed(template: Template) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "sqs", "RawMessageDelivery": True})
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value(),
                                                         "RedrivePolicy": Match.any_value()})
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_alert_emails_come_from_the_stage_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setitem(STAGES, "local", replace(STAGES["local"], alert_emails=("ops@example.com",)))
    synth().has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    with pytest.raises(ValueError, match="is not an email address"):
        replace(STAGES["local"], alert_emails=("nope",))


def test_rules_retrain_on_a_schedule_and_announce_approvals_and_failures(template: Template) -> None:
    rules = {r["Properties"]["Name"]: r["Properties"] for r in resources(template, "AWS::Events::Rule").values()}
    prefix = STAGES["local"].prefix
    retraining = rules[f"{prefix}-retraining"]
    assert retraining["ScheduleExpression"] == STAGES["local"].retraining_schedule
    [target] = retraining["Targets"]
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "ModelApprovalStatus", "Value": "PendingManualApproval"}]
    assert "RoleArn" in target
    approved = rules[f"{prefix}-model-approved"]["EventPattern"]
    assert approved["detail-type"] == ["SageMaker Model Package State Change"]
    assert approved["detail"]["ModelApprovalStatus"] == ["Approved"]
    assert rules[f"{prefix}-pipeline-failed"]["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == [
        "Failed"]


def test_outputs_name_everything_the_cli_reads(template: Template) -> None:
    from infra import outputs

    names = {k: v for k, v in vars(outputs).items() if k.isupper() and isinstance(v, str)}
    assert {v for k, v in names.items() if not k.endswith("_PARAMETER")} <= set(template.find_outputs("*"))
    assert {v for k, v in names.items() if k.endswith("_PARAMETER")} <= set(template.to_json()["Parameters"])


def test_unknown_stage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown stage 'qa'; known stages: local, dev, prod"):
        build(cdk.App(context={"sagestack:stage": "qa"}))
