"""The real-time endpoint, built from an approved model package, with data capture and autoscaling.

Which package is served is a stack *parameter* (`ModelPackageArn`, with the `ModelSha256` the
pipeline registered it with), not synth-time context: the template stays the same for every
model, and because the CDK CLI reuses a parameter's previous value when a deploy does not
name it, a plain `cdk deploy` (of an infrastructure change) keeps serving what was deployed
last instead of removing the endpoint. An empty `ModelPackageArn` (the default) means "no
endpoint yet": every serving resource carries the `Serving` condition. A stack rule refuses a
package without its digest, and the model server refuses any artifact but the pinned one.

Model and endpoint config have generated names: endpoint configs are immutable, so a new
package means a new config, and CloudFormation updates the endpoint (blue/green) before it
deletes the old ones. The endpoint's name is fixed: clients and alarms know it.

The update is guarded (SageMaker's deployment guardrails, `DeploymentConfig`): traffic moves to
the new fleet as the stage says (a canary first, linear steps or all at once), each step bakes
while the rollback alarms are watched, and one of them in ALARM sends every request back to the
old fleet, which is kept until the new one has baked. The rollback alarms are the endpoint's 5XX
and latency alarms (infra/monitoring.py) and one on the new fleet alone: SageMaker publishes a
fleet's metrics with its `EndpointConfigName` as well, so an alarm on the new config's latency
watches only the model being deployed (and the old fleet's errors cannot abort it). CloudFormation
updates that alarm to the new config before it updates the endpoint (the endpoint names it). A
rolled-back update fails the stack update, so the stack rolls back to the package still served.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import ServingConfig, StageConfig
from infra.monitoring import MINUTE, VARIANT
from infra.outputs import DIGEST_PARAMETER, PACKAGE_PARAMETER
from infra.roles import arn

PIN_VARIABLE = "SAGESTACK_MODEL_SHA256"
CAPTURE_PREFIX = "data-capture"
PACKAGE_PATTERN = r"^$|^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:model-package/[a-zA-Z0-9\-]{1,63}/[0-9]+$"
DIGEST_PATTERN = r"^$|^[0-9a-f]{64}$"


class Serving(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, role: iam.IRole, key: kms.IKey,
                 capture_bucket: s3.IBucket, rollback_alarms: dict[str, cloudwatch.IAlarm], topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        s = config.serving
        package = cdk.CfnParameter(
            stack, PACKAGE_PARAMETER, type="String", default="", allowed_pattern=PACKAGE_PATTERN,
            description="The approved model package version the endpoint serves; empty for no endpoint "
                        "(`sagestack endpoint deploy` passes the latest approved one).",
            constraint_description="must be empty or a versioned model package ARN "
                                   "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
        digest = cdk.CfnParameter(
            stack, DIGEST_PARAMETER, type="String", default="", allowed_pattern=DIGEST_PATTERN,
            description="The sha256 of model.joblib the package was registered with (the model server checks it).",
            constraint_description="must be empty or a lower-case hex sha256")
        no_package = cdk.Fn.condition_equals(package.value_as_string, "")
        no_digest = cdk.Fn.condition_equals(digest.value_as_string, "")
        self.condition = cdk.CfnCondition(self, "Condition", expression=cdk.Fn.condition_not(no_package))
        self.condition.override_logical_id("Serving")
        rule = cdk.CfnRule(self, "Rule", assertions=[cdk.CfnRuleAssertion(
            assert_=cdk.Fn.condition_or(cdk.Fn.condition_and(no_package, no_digest),
                                        cdk.Fn.condition_and(cdk.Fn.condition_not(no_package),
                                                             cdk.Fn.condition_not(no_digest))),
            assert_description=f"{PACKAGE_PARAMETER} and {DIGEST_PARAMETER} go together: give both (the package and "
                               f"the model digest it was registered with) or neither")])
        rule.override_logical_id("ServedModelIsPinned")
        self.package_arn = package.value_as_string

        self.model = sagemaker.CfnModel(
            self, "Model", execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=package.value_as_string, environment={PIN_VARIABLE: digest.value_as_string}))
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:  # the endpoint pulls the model with the role: its grants first
            self.model.node.add_dependency(policy)
        self.capture_uri = f"s3://{capture_bucket.bucket_name}/{CAPTURE_PREFIX}"
        capture = None
        if s.capture_percent:
            capture = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True, initial_sampling_percentage=s.capture_percent,
                destination_s3_uri=self.capture_uri, kms_key_id=key.key_arn,
                capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                                 sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output")],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=["text/csv"], json_content_types=["application/json"]))
        self.config = sagemaker.CfnEndpointConfig(
            self, "Config", kms_key_id=key.key_arn, data_capture_config=capture,
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT, model_name=self.model.attr_model_name, instance_type=s.instance_type,
                initial_instance_count=s.min_instances, initial_variant_weight=1.0)])
        new_fleet_alarm = f"{config.prefix}-endpoint-new-fleet-latency-p99"
        self.new_fleet_alarm = cloudwatch.Metric(
            namespace="AWS/SageMaker", metric_name="ModelLatency", statistic="p99", period=MINUTE,
            dimensions_map={"EndpointName": config.endpoint_name, "VariantName": VARIANT,
                            "EndpointConfigName": self.config.attr_endpoint_config_name}).create_alarm(
            self, "NewFleetLatency", alarm_name=new_fleet_alarm,
            threshold=s.latency_p99_ms * 1000, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"The fleet of the model last deployed answers slowly: ModelLatency p99 above "
                              f"{s.latency_p99_ms} ms in a minute (a rollback alarm of its deployment)")
        notify = actions.SnsAction(topic)
        self.new_fleet_alarm.add_alarm_action(notify)
        self.new_fleet_alarm.add_ok_action(notify)
        rollback_alarm_names = list(rollback_alarms)
        self.rollback_alarms = [*rollback_alarms.values(), self.new_fleet_alarm]
        # SageMaker reads them with the endpoint's role. By name, not by the alarms' Arn attributes: the
        # role's policy comes before the model, which comes before the new-fleet alarm.
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadRollbackAlarms", actions=["cloudwatch:DescribeAlarms"],
            resources=[arn("cloudwatch", f"alarm:{name}") for name in (*rollback_alarm_names, new_fleet_alarm)]))
        self.endpoint = sagemaker.CfnEndpoint(self, "Endpoint", endpoint_name=config.endpoint_name,
                                              endpoint_config_name=self.config.attr_endpoint_config_name,
                                              deployment_config=_deployment_config(s, self.rollback_alarms))
        # No RoleARN: Application Auto Scaling uses its service-linked role for SageMaker endpoints.
        target = autoscaling.CfnScalableTarget(
            self, "Scaling", service_namespace="sagemaker",
            resource_id=f"endpoint/{config.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=s.min_instances, max_capacity=s.max_instances)
        target.node.add_dependency(self.endpoint)
        autoscaling.CfnScalingPolicy(
            self, "InvocationsPerInstance", policy_name=f"{config.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling", scaling_target_id=target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy
            .TargetTrackingScalingPolicyConfigurationProperty(
                target_value=s.invocations_per_instance, scale_in_cooldown=300, scale_out_cooldown=60,
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance")))
        for child in self.node.find_all():
            if isinstance(child, cdk.CfnResource):
                child.cfn_options.condition = self.condition


def _deployment_config(s: ServingConfig,
                       alarms: list[cloudwatch.IAlarm]) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    """The endpoint's blue/green update policy from the stage's settings, rolled back by `alarms`."""
    size = sagemaker.CfnEndpoint.CapacitySizeProperty
    routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type=s.traffic_routing, wait_interval_in_seconds=s.bake_seconds,
        canary_size=size(type="INSTANCE_COUNT", value=s.canary_instances) if s.traffic_routing == "CANARY" else None,
        linear_step_size=size(type="CAPACITY_PERCENT", value=s.linear_step_percent)
        if s.traffic_routing == "LINEAR" else None)
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing, termination_wait_in_seconds=s.termination_wait_seconds,
            maximum_execution_timeout_in_seconds=s.deployment_timeout_seconds),
        auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
            alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name) for a in alarms]))
