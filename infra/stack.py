"""The sagestack stack: one construct per concern, wired together here, and the outputs the CLI reads."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from infra import outputs
from infra.alerts import Alerts
from infra.approvals import ApprovalDeployer
from infra.config import StageConfig
from infra.events import Events
from infra.model_monitor import ModelMonitors
from infra.monitoring import Monitoring
from infra.pipeline import PREFIX, TrainingPipeline
from infra.registry import ModelRegistry
from infra.roles import ExecutionRoles, allow_key, allow_objects
from infra.serving import Serving
from infra.storage import Storage
from training.preprocess import FEATURES


class SageStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, approval_function: bool = True,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, description=f"sagestack {config.name}: taxi trip-duration MLOps",
                         **kwargs)
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        self.registry = ModelRegistry(self, "Registry", config=config)
        self.roles = ExecutionRoles(self, "Roles", config=config)
        s, r = self.storage, self.roles
        allow_objects(r.pipeline, s.data, f"{PREFIX}/")
        allow_objects(r.pipeline, s.artifacts, f"{PREFIX}/", write=True)
        allow_objects(r.model, s.artifacts, f"{PREFIX}/runs/")
        allow_objects(r.model, s.capture, write=True)
        allow_key(r.pipeline, s.key, encrypt=True)
        allow_key(r.model, s.key, encrypt=True)
        self.pipeline = TrainingPipeline(self, "Pipeline", config=config, storage=s,
                                         model_package_group=self.registry.group_name, pipeline_role=r.pipeline,
                                         model_role=r.model)
        self.alerts = Alerts(self, "Alerts", config=config, key=s.key)
        self.monitoring = Monitoring(self, "Monitoring", config=config, topic=self.alerts.topic,
                                     features=list(FEATURES))
        self.events = Events(self, "Events", config=config, pipeline_arn=self.pipeline.arn,
                             model_package_group=self.registry.group_name, role=r.events, topic=self.alerts.topic,
                             retrain_on=self.monitoring.retraining_needed)
        for rule in (self.events.retraining, self.events.drift_retraining):
            if rule is not None:
                rule.node.add_dependency(self.pipeline.pipeline)
        self.serving = Serving(self, "Serving", config=config, role=r.model, key=s.key, capture_bucket=s.capture,
                               rollback_alarms=self.monitoring.rollback_alarms, topic=self.alerts.topic)
        self.deployer = ApprovalDeployer(self, "ApprovalDeployer", config=config, approved=self.events.approved) \
            if approval_function else None
        self.monitors = ModelMonitors(self, "ModelMonitors", config=config, role=r.model, serving=self.serving,
                                      reports=s.capture)
        self._outputs()

    def _outputs(self) -> None:
        s, r, c = self.storage, self.roles, self.config
        values = {
            outputs.DATA_BUCKET: s.data.bucket_name,
            outputs.ARTIFACTS_BUCKET: s.artifacts.bucket_name,
            outputs.CAPTURE_BUCKET: s.capture.bucket_name,
            outputs.KEY_ARN: s.key.key_arn,
            outputs.PIPELINE_ROLE_ARN: r.pipeline.role_arn,
            outputs.MODEL_ROLE_ARN: r.model.role_arn,
            outputs.PIPELINE_NAME: c.pipeline_name,
            outputs.MODEL_PACKAGE_GROUP: self.registry.group_name,
            outputs.ENDPOINT_NAME: c.endpoint_name,
            outputs.ALERT_TOPIC_ARN: self.alerts.topic.topic_arn,
            outputs.ALERT_QUEUE_URL: self.alerts.queue.queue_url,
            outputs.DASHBOARD: c.prefix,
            outputs.WORKLOAD_PREFIX: PREFIX,
            outputs.INPUT_DATA_URI: self.pipeline.input_data_uri,
            outputs.GROUND_TRUTH_URI: self.monitors.ground_truth_uri,
        }
        for key, value in values.items():
            cdk.CfnOutput(self, key, value=value)
        if self.deployer is not None:
            cdk.CfnOutput(self, outputs.DEPLOYER_FUNCTION, value=self.deployer.function.function_name)
        cdk.CfnOutput(self, outputs.SERVED_MODEL_PACKAGE, value=self.serving.package_arn,
                      condition=self.serving.condition)
