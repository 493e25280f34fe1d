"""The stack's outputs: the names the CLI and people learn from the deployed stack.

One mapping, shared by the stack (which writes them) and the CLI (which reads them with
DescribeStacks), so that nothing has to be copied by hand from one to the other.
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
