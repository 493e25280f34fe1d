"""The pipeline's execution parameters: what an operator may change per run without redeploying.

Why these: the raw data location and instance sizes vary per run (a backfill, a bigger
month), the hyperparameters are the knobs of train.py worth tuning per run, the RMSE
threshold is the quality gate, and the approval status lets a trusted retraining run
register straight to Approved. Defaults come from the `PipelineConfig`, so each
environment bakes its own into the definition. Names are part of the contract with
whoever starts executions (CLI, EventBridge retraining rule): change them with care.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.config import PipelineConfig

INPUT_DATA_URI = "InputDataUri"
PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
PROCESSING_INSTANCE_COUNT = "ProcessingInstanceCount"
TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
MAX_ITER = "MaxIter"
LEARNING_RATE = "LearningRate"
MAX_LEAF_NODES = "MaxLeafNodes"
SEED = "Seed"
RMSE_THRESHOLD = "RmseThreshold"
MODEL_APPROVAL_STATUS = "ModelApprovalStatus"

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")


@dataclass(frozen=True)
class PipelineParameters:
    """SDK parameter objects, in the order they appear in the definition."""

    input_data_uri: Any
    processing_instance_type: Any
    processing_instance_count: Any
    training_instance_type: Any
    max_iter: Any
    learning_rate: Any
    max_leaf_nodes: Any
    seed: Any
    rmse_threshold: Any
    model_approval_status: Any

    def as_list(self) -> list[Any]:
        return [getattr(self, name) for name in self.__dataclass_fields__]


def make_parameters(config: PipelineConfig) -> PipelineParameters:
    """Build the SDK parameter objects (call inside `offline_sdk.hermetic_sdk`)."""
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString

    return PipelineParameters(
        input_data_uri=ParameterString(INPUT_DATA_URI, default_value=config.input_data_uri),
        processing_instance_type=ParameterString(
            PROCESSING_INSTANCE_TYPE, default_value=config.processing_instance_type
        ),
        processing_instance_count=ParameterInteger(PROCESSING_INSTANCE_COUNT, default_value=1),
        training_instance_type=ParameterString(TRAINING_INSTANCE_TYPE, default_value=config.training_instance_type),
        max_iter=ParameterInteger(MAX_ITER, default_value=config.max_iter),
        learning_rate=ParameterFloat(LEARNING_RATE, default_value=config.learning_rate),
        max_leaf_nodes=ParameterInteger(MAX_LEAF_NODES, default_value=config.max_leaf_nodes),
        seed=ParameterInteger(SEED, default_value=config.seed),
        rmse_threshold=ParameterFloat(RMSE_THRESHOLD, default_value=config.rmse_threshold),
        model_approval_status=ParameterString(
            MODEL_APPROVAL_STATUS, default_value="PendingManualApproval", enum_values=list(APPROVAL_STATUSES)
        ),
    )
