"""The real-time endpoint, built from an approved model package, with data capture and autoscaling.

Present only when the app is told which package to serve (context `sagestack:modelPackageArn`
and `sagestack:modelSha256`, which `sagestack endpoint deploy` looks up from the latest approved
package). The model carries the package's model digest as SAGESTACK_MODEL_SHA256, so the model
server refuses any other artifact. Model and endpoint config have generated names: endpoint
configs are immutable, so a new package means a new config, and CloudFormation updates the
endpoint (blue/green) before deleting the old one. The endpoint's name is fixed: clients and
alarms know it.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import ModelToServe, StageConfig
from infra.monitoring import VARIANT

PIN_VARIABLE = "SAGESTACK_MODEL_SHA256"
CAPTURE_PREFIX = "data-capture"


class Serving(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, model: ModelToServe,
                 role: iam.IRole, key: kms.IKey, capture_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        s = config.serving
        self.model = sagemaker.CfnModel(
            self, "Model", execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=model.package_arn, environment={PIN_VARIABLE: model.model_sha256}))
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:  # the endpoint pulls the model with the role: its grants first
            self.model.node.add_dependency(policy)
        capture = None
        if s.capture_percent:
            capture = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True, initial_sampling_percentage=s.capture_percent,
                destination_s3_uri=f"s3://{capture_bucket.bucket_name}/{CAPTURE_PREFIX}", kms_key_id=key.key_arn,
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
        target = autoscaling.ScalableTarget(
            self, "Scaling", service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{config.endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=s.min_instances, max_capacity=s.max_instances)
        target.node.add_dependency(self.endpoint)
        target.scale_to_track_metric(
            "InvocationsPerInstance", target_value=s.invocations_per_instance,
            predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=cdk.Duration.minutes(5), scale_out_cooldown=cdk.Duration.minutes(1))
        self.capture_uri = f"s3://{capture_bucket.bucket_name}/{CAPTURE_PREFIX}"
