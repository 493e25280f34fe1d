"""The stack's outputs and parameters: the names the CLI and people learn from, and pass to, the stack.

Shared by the stack (which declares them) and the CLI (which reads outputs with DescribeStacks
and sets parameters with `cdk deploy --parameters`), so nothing has to be copied by hand from one
to the other. Kept free of imports: the CLI reads it without loading the CDK.
"""

from __future__ import annotations

DATA_BUCKET = "DataBucket"
ARTIFACTS_BUCKET = "ArtifactsBucket"
CAPTURE_BUCKET = "CaptureBucket"
KEY_ARN = "KeyArn"
PIPELINE_ROLE_ARN = "PipelineRoleArn"
MODEL_ROLE_ARN = "ModelRoleArn"
PIPELINE_NAME = "PipelineName"
MODEL_PACKAGE_GROUP = "ModelPackageGroupName"
ENDPOINT_NAME = "EndpointName"
SERVED_MODEL_PACKAGE = "ServedModelPackageArn"
ALERT_TOPIC_ARN = "AlertTopicArn"
ALERT_QUEUE_URL = "AlertQueueUrl"
DASHBOARD = "DashboardName"
WORKLOAD_PREFIX = "WorkloadPrefix"
GROUND_TRUTH_URI = "GroundTruthUri"
"""Where ground-truth labels go (hour folders yyyy/mm/dd/hh) for the model-quality monitor."""
DEPLOYER_FUNCTION = "DeployerFunctionName"
"""The function that deploys each approved model package through the stack (infra/approvals.py)."""
INPUT_DATA_URI = "InputDataUri"
"""Where the pipeline reads raw data by default (its InputDataUri parameter's default)."""

PACKAGE_PARAMETER = "ModelPackageArn"
"""Parameter: the approved model package the endpoint serves (empty: no endpoint)."""
DIGEST_PARAMETER = "ModelSha256"
"""Parameter: the sha256 of model.joblib the package was registered with."""
BASELINE_STATISTICS_PARAMETER = "BaselineStatisticsUri"
"""Parameter: statistics.json of the served package's data-quality baseline (empty: no monitor)."""
BASELINE_CONSTRAINTS_PARAMETER = "BaselineConstraintsUri"
"""Parameter: constraints.json of the served package's data-quality baseline (empty: no monitor)."""
QUALITY_CONSTRAINTS_PARAMETER = "QualityConstraintsUri"
"""Parameter: constraints.json of the served package's model-quality baseline (empty: no quality monitor)."""
