"""Create or update the pipeline from a definition, with any boto3 SageMaker client.

Why not `Pipeline.upsert()` from the SDK: it re-resolves and validates the role through
IAM and rebuilds the definition inside the call; the CLI and tests already hold the
exact bytes `definition_json` produced (the ones CI diffed), so those are what gets
deployed, against whatever endpoint the client points at (AWS or the local cloud).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipelines.config import PipelineConfig


def _not_found(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    # AWS answers ResourceNotFound; moto (and so localcloud) a ValidationException "Could not find pipeline".
    return code == "ResourceNotFound" or (
        code == "ValidationException" and ("does not exist" in message or "Could not find" in message)
    )


def upsert_pipeline(sagemaker_client: Any, config: PipelineConfig, definition: str, description: str = "") -> str:
    """Create the pipeline named in `config`, or update it if it exists; return its ARN."""
    extra = {"PipelineDescription": description} if description else {}
    try:
        sagemaker_client.describe_pipeline(PipelineName=config.pipeline_name)
    except ClientError as e:
        if not _not_found(e):
            raise
        response = sagemaker_client.create_pipeline(
            PipelineName=config.pipeline_name, RoleArn=config.role_arn, PipelineDefinition=definition, **extra
        )
        return str(response["PipelineArn"])
    response = sagemaker_client.update_pipeline(
        PipelineName=config.pipeline_name, RoleArn=config.role_arn, PipelineDefinition=definition, **extra
    )
    return str(response["PipelineArn"])
