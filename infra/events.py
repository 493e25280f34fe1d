"""EventBridge rules: retraining on a schedule and on drift or decay alarms, notices of approvals and failed runs.

The approval rule tells the alert topic (and so the people and the queue) that a model was
approved, and starts its guarded deployment (infra/approvals.py adds that target).
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import StageConfig


class Events(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, pipeline_arn: str,
                 model_package_group: str, role: iam.IRole, topic: sns.ITopic,
                 retrain_on: cloudwatch.IAlarm) -> None:
        super().__init__(scope, construct_id)
        # The loop closes here: drift or decay noticed (an alarm) -> a retraining run on fresh data,
        # whose model then waits for approval like any other. The rule watches one composite alarm
        # (drift OR decay), so an hour in which both fire starts one run, not two.
        self.drift_retraining = events.CfnRule(
            self, "DriftRetraining", name=f"{config.prefix}-retrain-on-alarm", state="ENABLED",
            description=f"Retrain {config.pipeline_name} when data drift or model decay raises an alarm",
            event_pattern={"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                           "resources": [retrain_on.alarm_arn],
                           "detail": {"state": {"value": ["ALARM"]}}},
            targets=[events.CfnRule.TargetProperty(
                id="pipeline", arn=pipeline_arn, role_arn=role.role_arn,
                sage_maker_pipeline_parameters=events.CfnRule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[events.CfnRule.SageMakerPipelineParameterProperty(
                        name="ModelApprovalStatus", value="PendingManualApproval")]))])
        self.retraining: events.CfnRule | None = None
        if config.retraining_schedule:
            # A SageMaker pipeline target: EventBridge starts an execution with these parameters.
            self.retraining = events.CfnRule(
                self, "Retraining", name=f"{config.prefix}-retraining", schedule_expression=config.retraining_schedule,
                description=f"Retrain {config.pipeline_name} on fresh data", state="ENABLED",
                targets=[events.CfnRule.TargetProperty(
                    id="pipeline", arn=pipeline_arn, role_arn=role.role_arn,
                    sage_maker_pipeline_parameters=events.CfnRule.SageMakerPipelineParametersProperty(
                        pipeline_parameter_list=[events.CfnRule.SageMakerPipelineParameterProperty(
                            name="ModelApprovalStatus", value="PendingManualApproval")]))])
        notify = targets.SnsTopic(topic)
        self.approved = events.Rule(
            self, "Approved", rule_name=f"{config.prefix}-model-approved",
            description="A model package of the stack's model package group was approved",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [model_package_group], "ModelApprovalStatus": ["Approved"]}),
            targets=[notify])
        self.failed = events.Rule(
            self, "RunFailed", rule_name=f"{config.prefix}-pipeline-failed",
            description=f"An execution of {config.pipeline_name} failed",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                detail={"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ["Failed"]}),
            targets=[notify])
