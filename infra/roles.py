"""IAM roles for everything that runs: pipeline and jobs, models and endpoints, EventBridge.

Least privilege: each role gets the actions it uses on the resources it uses, named by ARN
(this stack's buckets, key, pipeline, package group, jobs the pipeline starts). Three kinds of
grant cannot name a resource and are scoped by condition instead: CloudWatch metrics (by
namespace), ECR's authorization token, and SageMaker's tagging of its own jobs.
Bucket and key access is granted with `allow_objects` and `allow_key` rather than CDK's
`grant_*` helpers, which grant wildcard actions (`s3:GetObject*`, `kms:ReEncrypt*`, ...).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig

SAGEMAKER = iam.ServicePrincipal("sagemaker.amazonaws.com")
FRAMEWORK_IMAGE_ACCOUNTS = ("683313688378",)
"""ECR accounts of SageMaker's scikit-learn images in this app's regions (the SDK's image table)."""


def arn(service: str, resource: str) -> str:
    """An ARN in this stack's partition, region and account."""
    return f"arn:{cdk.Aws.PARTITION}:{service}:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:{resource}"


def allow_objects(role: iam.IRole, bucket: s3.IBucket, prefix: str = "", *, write: bool = False) -> None:
    """Read (and optionally write) the objects under `prefix` of `bucket`, and list that prefix."""
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:AbortMultipartUpload"] if write else [])
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions,
                                                     resources=[bucket.arn_for_objects(f"{prefix}*")]))
    listing = {"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                                     conditions=listing))


def allow_key(role: iam.IRole, key: kms.IKey, *, encrypt: bool = False) -> None:
    """Decrypt with `key` (and encrypt: what writing to its buckets takes)."""
    actions = ["kms:Decrypt"] + (["kms:Encrypt", "kms:GenerateDataKey"] if encrypt else [])
    role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[key.key_arn]))


class ExecutionRoles(Construct):
    """`pipeline` runs the pipeline and its jobs; `model` serves and monitors; `events` starts the pipeline."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.pipeline = iam.Role(self, "Pipeline", assumed_by=SAGEMAKER,
                                 description=f"{config.pipeline_name}: the pipeline and the jobs it runs")
        self.model = iam.Role(self, "Model", assumed_by=SAGEMAKER,
                              description=f"{config.endpoint_name}: models, endpoints and their monitors")
        self.events = iam.Role(self, "Events", assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
                               description=f"{config.pipeline_name}: EventBridge starts retraining runs")
        for role, log_groups in ((self.pipeline, ("ProcessingJobs", "TrainingJobs", "TransformJobs")),
                                 (self.model, ("Endpoints/*", "ProcessingJobs", "TransformJobs"))):
            self._container_basics(role, log_groups)
        prefix = "pipelines-"
        self.pipeline.add_to_policy(iam.PolicyStatement(
            sid="RunPipelineJobs",
            actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
                     "sagemaker:StopProcessingJob", "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                     "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
            resources=[arn("sagemaker", f"processing-job/{prefix}*"), arn("sagemaker", f"training-job/{prefix}*")]))
        self.pipeline.add_to_policy(iam.PolicyStatement(
            sid="RegisterModels",
            actions=["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                     "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
            resources=[arn("sagemaker", f"model-package-group/{config.model_package_group_prefix}*"),
                       arn("sagemaker", f"model-package/{config.model_package_group_prefix}*/*")]))
        self.pipeline.add_to_policy(iam.PolicyStatement(
            sid="PassRoleToJobs", actions=["iam:PassRole"], resources=[self.pipeline.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        self.events.add_to_policy(iam.PolicyStatement(
            sid="StartRetraining", actions=["sagemaker:StartPipelineExecution"],
            resources=[arn("sagemaker", f"pipeline/{config.pipeline_name.lower()}")]))

    @staticmethod
    def _container_basics(role: iam.Role, log_groups: tuple[str, ...]) -> None:
        """What any SageMaker container needs: its image, its logs, its metrics."""
        role.add_to_policy(iam.PolicyStatement(
            sid="PullFrameworkImages",
            actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            resources=[f"arn:{cdk.Aws.PARTITION}:ecr:{cdk.Aws.REGION}:{account}:repository/sagemaker-scikit-learn"
                       for account in FRAMEWORK_IMAGE_ACCOUNTS]))
        role.add_to_policy(iam.PolicyStatement(
            sid="EcrToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            sid="Logs", actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                 "logs:DescribeLogStreams"],
            resources=[arn("logs", f"log-group:/aws/sagemaker/{group}:*") for group in log_groups]))
        role.add_to_policy(iam.PolicyStatement(
            sid="Metrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}))
