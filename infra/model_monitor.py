"""SageMaker Model Monitor on the endpoint: data and model quality, each a job definition and an hourly schedule.

The baselines are the ones the pipeline computed for the model being served (its package's
DriftCheckBaselines), passed in as stack parameters by `sagestack endpoint deploy`, so the
template stays the same for every model, like the served package itself. Without a baseline
(no endpoint yet, or a package registered without one) there is no monitor: each monitor's
resources carry its own condition.

- Data quality: each hour the analyzer compares the hour's captured requests with the training
  data's statistics, writes its report under the capture bucket and publishes the per-feature
  drift the drift alarm watches.
- Model quality: people (or a labelling job) upload ground truth under `GroundTruthUri`, one JSON
  line per label in SageMaker's ground-truth format, in hour folders `yyyy/mm/dd/hh` of when they
  were collected; each hour the analyzer merges them with the captured predictions by event id
  (or the `InferenceId` the caller sent) and publishes rmse, mae and r2 for the decay alarm.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.outputs import (
    BASELINE_CONSTRAINTS_PARAMETER,
    BASELINE_STATISTICS_PARAMETER,
    QUALITY_CONSTRAINTS_PARAMETER,
)
from infra.serving import Serving

HOURLY = "cron(0 * ? * * *)"
REPORTS_PREFIX = "monitoring"
GROUND_TRUTH_PREFIX = "ground-truth"
S3_URI_PATTERN = r"^$|^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+$"
ENDPOINT_INPUT = "/opt/ml/processing/input/endpoint"
REPORT_OUTPUT = "/opt/ml/processing/output"


def analyzer_image(region: str) -> str:
    """Model Monitor's analyzer image for `region`, from the SageMaker SDK's offline image table."""
    from pipelines.offline_sdk import hermetic_sdk

    with hermetic_sdk(region):
        from sagemaker.core import image_uris

        return str(image_uris.retrieve("model-monitor", region))


def _uri_parameter(stack: cdk.Stack, name: str, description: str) -> cdk.CfnParameter:
    return cdk.CfnParameter(stack, name, type="String", default="", allowed_pattern=S3_URI_PATTERN,
                            description=description, constraint_description="must be empty or an s3:// URI")


def _given(parameter: cdk.CfnParameter) -> cdk.ICfnConditionExpression:
    return cdk.Fn.condition_not(cdk.Fn.condition_equals(parameter.value_as_string, ""))


class ModelMonitors(Construct):
    """Both monitors of the served endpoint, on the analyzer image, reporting under `reports`."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, role: iam.Role,
                 serving: Serving, reports: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        statistics = _uri_parameter(stack, BASELINE_STATISTICS_PARAMETER,
                                    "statistics.json of the served model's data-quality baseline (its package's "
                                    "DriftCheckBaselines); empty for no data-quality monitor")
        constraints = _uri_parameter(stack, BASELINE_CONSTRAINTS_PARAMETER,
                                     "constraints.json of the served model's data-quality baseline; empty for no "
                                     "data-quality monitor")
        quality = _uri_parameter(stack, QUALITY_CONSTRAINTS_PARAMETER,
                                 "constraints.json of the served model's model-quality baseline (its package's "
                                 "DriftCheckBaselines.ModelQuality); empty for no model-quality monitor")
        self.data_condition = cdk.CfnCondition(self, "Data", expression=cdk.Fn.condition_and(
            serving.condition, _given(statistics), _given(constraints)))
        self.data_condition.override_logical_id("Monitored")
        self.quality_condition = cdk.CfnCondition(self, "Quality", expression=cdk.Fn.condition_and(
            serving.condition, _given(quality)))
        self.quality_condition.override_logical_id("QualityMonitored")
        self.image = analyzer_image(config.region)
        account = self.image.split(".", 1)[0]
        role.add_to_policy(iam.PolicyStatement(
            sid="PullModelMonitorAnalyzer",
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[f"arn:{cdk.Aws.PARTITION}:ecr:{cdk.Aws.REGION}:{account}:repository/"
                       f"sagemaker-model-monitor-analyzer"]))
        self.reports_uri = f"s3://{reports.bucket_name}/{REPORTS_PREFIX}"
        self.ground_truth_uri = f"s3://{reports.bucket_name}/{GROUND_TRUTH_PREFIX}/{config.endpoint_name}"
        self.data_quality = self._data_quality(config, role, serving, statistics, constraints)
        self.model_quality = self._model_quality(config, role, serving, quality)

    def _data_quality(self, config: StageConfig, role: iam.Role, serving: Serving, statistics: cdk.CfnParameter,
                      constraints: cdk.CfnParameter) -> sagemaker.CfnMonitoringSchedule:
        j = sagemaker.CfnDataQualityJobDefinition
        definition = j(
            self, "DataQuality", role_arn=role.role_arn,
            data_quality_app_specification=j.DataQualityAppSpecificationProperty(image_uri=self.image),
            data_quality_baseline_config=j.DataQualityBaselineConfigProperty(
                constraints_resource=j.ConstraintsResourceProperty(s3_uri=constraints.value_as_string),
                statistics_resource=j.StatisticsResourceProperty(s3_uri=statistics.value_as_string)),
            data_quality_job_input=j.DataQualityJobInputProperty(endpoint_input=j.EndpointInputProperty(
                endpoint_name=config.endpoint_name, local_path=ENDPOINT_INPUT)),
            data_quality_job_output_config=self._reports(j, "data-quality"),
            job_resources=self._resources(j), stopping_condition=j.StoppingConditionProperty(
                max_runtime_in_seconds=1800))
        return self._schedule("Schedule", config.data_quality_schedule, "DataQuality", definition, serving,
                              self.data_condition)

    def _model_quality(self, config: StageConfig, role: iam.Role, serving: Serving,
                       constraints: cdk.CfnParameter) -> sagemaker.CfnMonitoringSchedule:
        j = sagemaker.CfnModelQualityJobDefinition
        definition = j(
            self, "ModelQuality", role_arn=role.role_arn,
            model_quality_app_specification=j.ModelQualityAppSpecificationProperty(
                image_uri=self.image, problem_type="Regression"),
            model_quality_baseline_config=j.ModelQualityBaselineConfigProperty(
                constraints_resource=j.ConstraintsResourceProperty(s3_uri=constraints.value_as_string)),
            model_quality_job_input=j.ModelQualityJobInputProperty(
                # the prediction is the first (only) column of the model's CSV answer
                endpoint_input=j.EndpointInputProperty(endpoint_name=config.endpoint_name,
                                                       local_path=ENDPOINT_INPUT, inference_attribute="0"),
                ground_truth_s3_input=j.MonitoringGroundTruthS3InputProperty(s3_uri=self.ground_truth_uri)),
            model_quality_job_output_config=self._reports(j, "model-quality"),
            job_resources=self._resources(j), stopping_condition=j.StoppingConditionProperty(
                max_runtime_in_seconds=1800))
        return self._schedule("QualitySchedule", config.model_quality_schedule, "ModelQuality", definition,
                              serving, self.quality_condition)

    def _reports(self, j: Any, folder: str) -> Any:
        """Where a job definition's reports go (under the capture bucket's monitoring/ prefix)."""
        return j.MonitoringOutputConfigProperty(monitoring_outputs=[j.MonitoringOutputProperty(
            s3_output=j.S3OutputProperty(s3_uri=f"{self.reports_uri}/{folder}", local_path=REPORT_OUTPUT,
                                         s3_upload_mode="EndOfJob"))])

    @staticmethod
    def _resources(j: Any) -> Any:
        return j.MonitoringResourcesProperty(cluster_config=j.ClusterConfigProperty(
            instance_count=1, instance_type="ml.m5.xlarge", volume_size_in_gb=20))

    def _schedule(self, construct_id: str, name: str, kind: str, definition: cdk.CfnResource,
                  serving: Serving, condition: cdk.CfnCondition) -> sagemaker.CfnMonitoringSchedule:
        """An hourly schedule of `definition`, which it names by the end of its ARN (the definition's Ref).

        Job definitions are immutable, so a new package's baselines replace them; their names are
        left to CloudFormation for that (it refuses to replace a resource the template names), and
        the schedule, which is updated in place, follows the new one.
        """
        definition_name = cdk.Fn.select(1, cdk.Fn.split("/", definition.ref))
        definition.node.add_dependency(serving.endpoint)
        schedule = sagemaker.CfnMonitoringSchedule(
            self, construct_id, monitoring_schedule_name=name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=definition_name,
                monitoring_type=kind,
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(schedule_expression=HOURLY)))
        for resource in (definition, schedule):
            resource.cfn_options.condition = condition
        return schedule
