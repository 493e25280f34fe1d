"""SageMaker Model Monitor on the endpoint: the served model's baseline, a data-quality job, an hourly schedule.

The baseline is the one the pipeline computed for the model being served (its package's
DriftCheckBaselines), passed in as two stack parameters by `sagestack endpoint deploy`, so the
template stays the same for every model, like the served package itself. Without a baseline
(no endpoint yet) there is no monitor: every resource here carries the `Monitored` condition.
Each hour the analyzer compares the hour's captured requests with the baseline, writes its
report under the capture bucket and publishes the per-feature drift the drift alarm watches.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.outputs import BASELINE_CONSTRAINTS_PARAMETER, BASELINE_STATISTICS_PARAMETER
from infra.serving import Serving

HOURLY = "cron(0 * ? * * *)"
REPORTS_PREFIX = "monitoring"
S3_URI_PATTERN = r"^$|^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+$"


def analyzer_image(region: str) -> str:
    """Model Monitor's analyzer image for `region`, from the SageMaker SDK's offline image table."""
    from pipelines.offline_sdk import hermetic_sdk

    with hermetic_sdk(region):
        from sagemaker.core import image_uris

        return str(image_uris.retrieve("model-monitor", region))


class DataQualityMonitor(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, role: iam.Role,
                 serving: Serving, reports: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        statistics = cdk.CfnParameter(
            stack, BASELINE_STATISTICS_PARAMETER, type="String", default="", allowed_pattern=S3_URI_PATTERN,
            description="statistics.json of the served model's data-quality baseline (its package's "
                        "DriftCheckBaselines); empty for no monitor",
            constraint_description="must be empty or an s3:// URI")
        constraints = cdk.CfnParameter(
            stack, BASELINE_CONSTRAINTS_PARAMETER, type="String", default="", allowed_pattern=S3_URI_PATTERN,
            description="constraints.json of the served model's data-quality baseline; empty for no monitor",
            constraint_description="must be empty or an s3:// URI")
        self.condition = cdk.CfnCondition(self, "Condition", expression=cdk.Fn.condition_and(
            serving.condition, cdk.Fn.condition_not(cdk.Fn.condition_equals(statistics.value_as_string, "")),
            cdk.Fn.condition_not(cdk.Fn.condition_equals(constraints.value_as_string, ""))))
        self.condition.override_logical_id("Monitored")
        image = analyzer_image(config.region)
        account = image.split(".", 1)[0]
        role.add_to_policy(iam.PolicyStatement(
            sid="PullModelMonitorAnalyzer",
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[f"arn:{cdk.Aws.PARTITION}:ecr:{cdk.Aws.REGION}:{account}:repository/"
                       f"sagemaker-model-monitor-analyzer"]))
        self.reports_uri = f"s3://{reports.bucket_name}/{REPORTS_PREFIX}/data-quality"
        definition_name = f"{config.prefix}-data-quality"
        self.definition = sagemaker.CfnDataQualityJobDefinition(
            self, "DataQuality", job_definition_name=definition_name, role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=image),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=constraints.value_as_string),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=statistics.value_as_string)),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=config.endpoint_name, local_path="/opt/ml/processing/input/endpoint")),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                monitoring_outputs=[sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                    s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                        s3_uri=self.reports_uri, local_path="/opt/ml/processing/output", s3_upload_mode="EndOfJob"))]),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1, instance_type="ml.m5.xlarge", volume_size_in_gb=20)),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=1800))
        self.definition.node.add_dependency(serving.endpoint)
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self, "Schedule", monitoring_schedule_name=config.data_quality_schedule,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=definition_name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=HOURLY)))
        self.schedule.add_dependency(self.definition)
        for child in self.node.find_all():
            if isinstance(child, cdk.CfnResource):
                child.cfn_options.condition = self.condition
