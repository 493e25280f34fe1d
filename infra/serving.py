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
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.monitoring import VARIANT
from infra.outputs import DIGEST_PARAMETER, PACKAGE_PARAMETER

PIN_VARIABLE = "SAGESTACK_MODEL_SHA256"
CAPTURE_PREFIX = "data-capture"
PACKAGE_PATTERN = r"^$|^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:model-package/[a-zA-Z0-9\-]{1,63}/[0-9]+$"
DIGEST_PATTERN = r"^$|^[0-9a-f]{64}$"


class Serving(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, role: iam.IRole, key: kms.IKey,
                 capture_bucket: s3.IBucket) -> None:
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
        self.endpoint = sagemaker.CfnEndpoint(self, "Endpoint", endpoint_name=config.endpoint_name,
                                              endpoint_config_name=self.config.attr_endpoint_config_name)
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
