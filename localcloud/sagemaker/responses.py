"""The SageMaker API layer: moto's response class plus the actions moto lacks.

Jobs are created from the whole request body, as AWS-shaped as it arrived (moto's handlers
drop members a running job needs, such as Environment and ProcessingResources).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from localcloud.sagemaker.work import PROCESSING, TRAINING, TRANSFORM, JobKind

if TYPE_CHECKING:  # the backend's module routes its URLs here
    from localcloud.sagemaker.backend import LocalSageMakerBackend


class LocalSageMakerResponse(SageMakerResponse):
    @property
    def sagemaker_backend(self) -> LocalSageMakerBackend:
        # moto types its registry with its own class; localcloud.extensions fills it with ours
        return sagemaker_backends[self.current_account][self.region]  # type: ignore[return-value]

    def _request(self) -> dict[str, Any]:
        return json.loads(self.body or "{}")

    def _submit(self, kind: JobKind) -> ActionResult:
        job = self.sagemaker_backend.submit_job(kind, self._request())
        return ActionResult({f"{kind.name}Arn": job.arn})

    def create_processing_job(self) -> ActionResult:
        return self._submit(PROCESSING)

    def create_training_job(self) -> ActionResult:
        return self._submit(TRAINING)

    def create_transform_job(self) -> ActionResult:
        return self._submit(TRANSFORM)

    def stop_processing_job(self) -> ActionResult:
        self.sagemaker_backend.stop_job(PROCESSING, self._get_param("ProcessingJobName"))
        return EmptyResult()

    def stop_training_job(self) -> ActionResult:
        self.sagemaker_backend.stop_job(TRAINING, self._get_param("TrainingJobName"))
        return EmptyResult()

    def update_endpoint(self) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName"),
            self._get_param("DeploymentConfig"), bool(self._get_param("RetainDeploymentConfig")))
        return ActionResult({"EndpointArn": arn})

    def stop_transform_job(self) -> ActionResult:
        self.sagemaker_backend.stop_job(TRANSFORM, self._get_param("TransformJobName"))
        return EmptyResult()

    def list_pipeline_execution_steps(self) -> ActionResult:
        steps = self.sagemaker_backend.list_pipeline_execution_steps(
            self._get_param("PipelineExecutionArn"), self._get_param("SortOrder"))
        return ActionResult({"PipelineExecutionSteps": steps})

    def stop_pipeline_execution(self) -> ActionResult:
        arn = self.sagemaker_backend.stop_pipeline_execution(self._get_param("PipelineExecutionArn"))
        return ActionResult({"PipelineExecutionArn": arn})

    def retry_pipeline_execution(self) -> ActionResult:
        arn = self.sagemaker_backend.retry_pipeline_execution(self._get_param("PipelineExecutionArn"))
        return ActionResult({"PipelineExecutionArn": arn})

    def delete_model_package(self) -> ActionResult:
        self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))
        return EmptyResult()

    def delete_model_package_group(self) -> ActionResult:
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    # ------------------------------------------------------------------ monitoring schedules (moto has none)
    def create_monitoring_schedule(self) -> ActionResult:
        request = self._request()
        arn = self.sagemaker_backend.monitoring.create(request.get("MonitoringScheduleName", ""),
                                                       request.get("MonitoringScheduleConfig") or {})
        return ActionResult({"MonitoringScheduleArn": arn})

    def describe_monitoring_schedule(self) -> ActionResult:
        name = self._request().get("MonitoringScheduleName", "")
        return ActionResult(self.sagemaker_backend.monitoring.describe(name))

    def list_monitoring_schedules(self) -> ActionResult:
        request = self._request()
        found = self.sagemaker_backend.monitoring.summaries(request.get("EndpointName"), request.get("StatusEquals"))
        return ActionResult({"MonitoringScheduleSummaries": found[:int(request.get("MaxResults") or 100)]})

    def update_monitoring_schedule(self) -> ActionResult:
        request = self._request()
        arn = self.sagemaker_backend.monitoring.update(request.get("MonitoringScheduleName", ""),
                                                       request.get("MonitoringScheduleConfig") or {})
        return ActionResult({"MonitoringScheduleArn": arn})

    def stop_monitoring_schedule(self) -> EmptyResult:
        self.sagemaker_backend.monitoring.stop(self._request().get("MonitoringScheduleName", ""))
        return EmptyResult()

    def start_monitoring_schedule(self) -> EmptyResult:
        self.sagemaker_backend.monitoring.start(self._request().get("MonitoringScheduleName", ""))
        return EmptyResult()

    def delete_monitoring_schedule(self) -> EmptyResult:
        self.sagemaker_backend.monitoring.delete(self._request().get("MonitoringScheduleName", ""))
        return EmptyResult()

    def list_monitoring_executions(self) -> ActionResult:
        request = self._request()
        found = self.sagemaker_backend.monitoring.executions(
            request.get("MonitoringScheduleName"), request.get("EndpointName"), request.get("StatusEquals"),
            request.get("SortBy"), request.get("SortOrder"))
        return ActionResult({"MonitoringExecutionSummaries": found[:int(request.get("MaxResults") or 100)]})

