"""A job step's Arguments are the request SageMaker will send for it: check them as that request.

A Training step's Arguments become a CreateTrainingJob request, a Processing step's a
CreateProcessingJob request, and so on; only the job's name is left for the pipeline to fill in.
Checking them against the API model at CreatePipeline, with expressions (`{"Get": ...}`,
`{"Std:Join": ...}`) accepted wherever a value goes, refuses at once what AWS would refuse when
the step runs, e.g. a Training step whose Arguments are empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcloud.api import models, shapes
from localcloud.sagemaker.pipeline_expressions import DefinitionError, is_expression

__all__ = ["STEP_REQUESTS", "check_step_arguments"]

STEP_REQUESTS: dict[str, tuple[str, str | None]] = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "Model": ("CreateModel", "ModelName"),
    "CreateModel": ("CreateModel", "ModelName"),
    "RegisterModel": ("CreateModelPackage", None),
    "EndpointConfig": ("CreateEndpointConfig", "EndpointConfigName"),
    "Endpoint": ("CreateEndpoint", "EndpointName"),
    "AutoML": ("CreateAutoMLJob", "AutoMLJobName"),
}
"""Step type -> (the SageMaker operation its Arguments are the request of, the member the pipeline names)."""


def check_step_arguments(kind: str, arguments: Mapping[str, Any], where: str) -> None:
    """Raise DefinitionError with AWS's validation sentences if the Arguments are not a valid request."""
    found = STEP_REQUESTS.get(kind)
    if found is None:
        return
    operation_name, named_by_pipeline = found
    operation = models.service("sagemaker").operation(operation_name)
    if operation is None or operation.input_shape is None:
        return
    skip = {named_by_pipeline} if named_by_pipeline else set()
    problems = shapes.check(dict(arguments), operation.input_shape, skip_required=skip, placeholder=is_expression)
    if problems:
        raise DefinitionError(f"{where}: Arguments are not a valid {operation_name} request: "
                              f"{shapes.summary(problems)}")
