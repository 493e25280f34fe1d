"""cdk-nag findings this stack accepts, each on the policy it concerns, with the reason it is needed.

AwsSolutions-IAM5 (a wildcard in a policy) is accepted only for wildcards that cannot be
narrower: object keys under a prefix this stack owns, names SageMaker generates for the jobs of
this pipeline and for log streams, versions of this stack's model package group, and the two
actions that take no resource (ECR's token; CloudWatch metrics, limited by namespace instead).
AwsSolutions-L1 (not the newest Lambda runtime) is accepted for the deploying function, which
localcloud must be able to run (infra/approvals.py). Anything else cdk-nag finds fails the synth.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from infra.pipeline import PREFIX

_PREFIX = "AwsSolutions::AwsSolutions-IAM5"
_SAGEMAKER = "arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>"
_LOGS = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker"


def _ack(policy: iam.Policy, resource: str, reason: str) -> None:
    cdk.Validations.of(policy).acknowledge(cdk.Acknowledgment(id=f"{_PREFIX}[Resource::{resource}]", reason=reason))


def _bucket(bucket: s3.IBucket) -> str:
    stack = cdk.Stack.of(bucket)
    return f"<{stack.resolve(stack.get_logical_id(bucket.node.default_child))}.Arn>"  # type: ignore[arg-type]


def acknowledge(stack: cdk.Stack) -> None:
    from infra.stack import SageStack

    assert isinstance(stack, SageStack)
    roles, storage, groups = stack.roles, stack.storage, stack.config.model_package_group_prefix
    both = (roles.pipeline.node.find_child("DefaultPolicy"), roles.model.node.find_child("DefaultPolicy"))
    for policy in both:
        _ack(policy, "*", "ecr:GetAuthorizationToken has no resource; cloudwatch:PutMetricData has none either "
                          "and is limited to SageMaker's namespaces by condition")
        for group_name in ("ProcessingJobs", "TransformJobs"):
            _ack(policy, f"{_LOGS}/{group_name}:*", "log streams are named by SageMaker after each job")
    pipeline, model = both
    _ack(pipeline, f"{_LOGS}/TrainingJobs:*", "log streams are named by SageMaker after each job")
    _ack(model, f"{_LOGS}/Endpoints/*:*", "endpoint log groups and streams are named by SageMaker after the endpoint")
    for kind in ("processing-job", "training-job"):
        _ack(pipeline, f"{_SAGEMAKER}:{kind}/pipelines-*",
             "SageMaker Pipelines names its jobs pipelines-<execution id>-<step>-<suffix>")
    _ack(pipeline, f"{_SAGEMAKER}:model-package-group/{groups}*",
         "the stack's model package group, whose name ends with a part of the stack's id")
    _ack(pipeline, f"{_SAGEMAKER}:model-package/{groups}*/*", "model package versions of the stack's group")
    _ack(pipeline, f"{_bucket(storage.data)}/{PREFIX}/*", "the workload's raw data, read by preprocessing")
    _ack(pipeline, f"{_bucket(storage.artifacts)}/{PREFIX}/*", "the workload's runs, models and reports")
    _ack(model, f"{_bucket(storage.artifacts)}/{PREFIX}/runs/*", "model artifacts of the pipeline's runs")
    _ack(model, f"{_bucket(storage.capture)}/*", "endpoints write captured requests under names of their own")
    if stack.deployer is None:
        return
    deployer = stack.deployer.role.node.find_child("DefaultPolicy")
    _ack(deployer, f"{_SAGEMAKER}:model-package-group/{groups}*",
         "the stack's model package group, whose name ends with a part of the stack's id")
    _ack(deployer, f"{_SAGEMAKER}:model-package/{groups}*/*", "model package versions of the stack's group")
    cdk.Validations.of(stack.deployer.function).acknowledge(cdk.Acknowledgment(
        id="AwsSolutions::AwsSolutions-L1", reason="python3.13, not Lambda's newest: localcloud runs the function on "
                                                   "a local interpreter of the runtime's version (infra/approvals.py)"))
