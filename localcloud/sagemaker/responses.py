"""The SageMaker API layer: moto's response class plus the actions moto lacks.

Jobs are created from the whole request body (moto's handler drops Environment and
ProcessingResources, which a running job needs).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.responses import SageMakerResponse


class LocalSageMakerResponse(SageMakerResponse):
    def _request(self) -> dict[str, Any]:
        return json.loads(self.body or "{}")

    def create_processing_job(self) -> ActionResult:
        job = self.sagemaker_backend.submit_processing_job(self._request())
        return ActionResult({"ProcessingJobArn": job.arn})

    def create_training_job(self) -> ActionResult:
        job = self.sagemaker_backend.submit_training_job(self._request())
        return ActionResult({"TrainingJobArn": job.arn})

    def stop_training_job(self) -> ActionResult:
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return EmptyResult()

    def update_endpoint(self) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(self._get_param("EndpointName"),
                                                     self._get_param("EndpointConfigName"),
                                                     self._get_param("DeploymentConfig"))
        return ActionResult({"EndpointArn": arn})

    def stop_transform_job(self) -> ActionResult:
        self.sagemaker_backend.stop_transform_job(self._get_param("TransformJobName"))
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
