"""CloudWatch alarms and a dashboard over the endpoint, its data-quality and model-quality monitors.

Alarms watch the metrics SageMaker publishes for the endpoint (`AWS/SageMaker`: 5XX errors, p99
model latency) and those Model Monitor publishes for its schedules (data drift per feature in
`aws/sagemaker/Endpoints/data-metrics`, rmse in `aws/sagemaker/Endpoints/model-metrics`). They
exist before the endpoint does: a metric with no data leaves an alarm in INSUFFICIENT_DATA, which
is not an alert. Every alarm notifies the alert topic when it fires and when it clears.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import StageConfig
from infra.namespaces import DATA_METRICS, MODEL_METRICS

VARIANT = "AllTraffic"
MINUTE = cdk.Duration.minutes(1)


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, topic: sns.ITopic,
                 features: list[str]) -> None:
        super().__init__(scope, construct_id)
        s = config.serving
        endpoint = {"EndpointName": config.endpoint_name, "VariantName": VARIANT}
        self.errors = cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
                                        dimensions_map=endpoint, statistic="Sum", period=MINUTE)
        self.latency = cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency",
                                         dimensions_map=endpoint, statistic="p99", period=MINUTE)
        self.invocations = cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocations",
                                             dimensions_map=endpoint, statistic="Sum", period=MINUTE)
        monitor = {"Endpoint": config.endpoint_name, "MonitoringSchedule": config.data_quality_schedule}
        self.drift = {f: cloudwatch.Metric(namespace=DATA_METRICS, metric_name=f"feature_baseline_drift_{f}",
                                           dimensions_map=monitor, statistic="Maximum", period=cdk.Duration.hours(1))
                      for f in features}
        self.rmse = cloudwatch.Metric(namespace=MODEL_METRICS, metric_name="rmse", statistic="Maximum",
                                      period=cdk.Duration.hours(1),
                                      dimensions_map={"Endpoint": config.endpoint_name,
                                                      "MonitoringSchedule": config.model_quality_schedule})
        p = config.prefix
        errors_name, latency_name = f"{p}-endpoint-5xx", f"{p}-endpoint-latency-p99"
        self.alarms = [
            self.errors.create_alarm(
                self, "Errors", alarm_name=errors_name, threshold=s.errors_5xx, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The endpoint answered with 5XX errors (the model failed)"),
            self.latency.create_alarm(
                self, "Latency", alarm_name=latency_name, threshold=s.latency_p99_ms * 1000,
                evaluation_periods=3, datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"ModelLatency p99 above {s.latency_p99_ms} ms for 3 minutes"),
            cloudwatch.MathExpression(
                expression=f"MAX([{', '.join(f'd{i}' for i in range(len(features)))}])",
                using_metrics={f"d{i}": m for i, m in enumerate(self.drift.values())}, label="largest feature drift",
                period=cdk.Duration.hours(1)).create_alarm(
                self, "Drift", alarm_name=f"{p}-data-drift", threshold=s.drift_threshold, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="A feature of the live traffic drifted from the training baseline"),
            self.rmse.create_alarm(
                self, "Quality", alarm_name=f"{p}-model-quality-rmse", threshold=s.rmse_threshold,
                evaluation_periods=1, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Model quality decayed: rmse against ground truth above {s.rmse_threshold}"),
        ]
        self.errors_alarm, self.latency_alarm, self.drift_alarm, self.quality_alarm = self.alarms
        self.rollback_alarms: dict[str, cloudwatch.IAlarm] = {errors_name: self.errors_alarm,
                                                              latency_name: self.latency_alarm}
        """What a deployment of a new model rolls back on (infra/serving.py), by name."""
        # What the retraining rule watches: either alarm (it notifies no one; its children already do).
        self.retraining_needed = cloudwatch.CompositeAlarm(
            self, "RetrainingNeeded", composite_alarm_name=f"{p}-retraining-needed",
            alarm_description="Data drift or model decay: the model should be retrained",
            alarm_rule=cloudwatch.AlarmRule.any_of(
                cloudwatch.AlarmRule.from_alarm(self.drift_alarm, cloudwatch.AlarmState.ALARM),
                cloudwatch.AlarmRule.from_alarm(self.quality_alarm, cloudwatch.AlarmState.ALARM)))
        notify = actions.SnsAction(topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=p, widgets=[
            [cloudwatch.GraphWidget(title="Invocations and 5XX errors", left=[self.invocations], right=[self.errors],
                                    width=12),
             cloudwatch.GraphWidget(title="Model latency p99 (µs)", left=[self.latency], width=12)],
            [cloudwatch.GraphWidget(title="Feature drift against the training baseline",
                                    left=list(self.drift.values()), width=12),
             cloudwatch.GraphWidget(title="Model quality: rmse against ground truth", left=[self.rmse], width=12)],
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)],
        ])
