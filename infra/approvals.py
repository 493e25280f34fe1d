"""Approval to production, as code: a model package approved in the stack's group is deployed at once.

The stack's approval rule (infra/events.py) invokes a small function (functions/
deploy_approved_model) that updates this stack with the package as its `ModelPackageArn`
parameter; the endpoint's own DeploymentConfig (infra/serving.py) then takes it to production
through a canary with automatic rollback. Nothing else can change what is served behind the
stack's back: the function changes only the stack's parameters, through CloudFormation, with
the CDK's deployment role (its own role may only pass that role to CloudFormation).

On AWS this is a Python Lambda function; localcloud runs the same code as a local process.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import outputs
from infra.config import StageConfig
from infra.roles import arn

CODE = Path(__file__).resolve().parents[1] / "functions" / "deploy_approved_model"
RUNTIME = lambda_.Runtime.PYTHON_3_13
"""Not 3.14, Lambda's newest: localcloud runs the function on a local Python of the runtime's version,
and 3.13 is the newest these machines have (Lambda supports it until 2029)."""


class ApprovalDeployer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, approved: events.Rule) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        name = f"{config.prefix}-deploy-approved-model"
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=f"/aws/lambda/{name}",
            removal_policy=cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY)
        cast(logs.CfnLogGroup, self.log_group.node.default_child).retention_in_days = config.log_retention_days
        deployment_role = (f"arn:{cdk.Aws.PARTITION}:iam::{cdk.Aws.ACCOUNT_ID}:role/cdk-"
                           f"{cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER}-cfn-exec-role-{cdk.Aws.ACCOUNT_ID}-"
                           f"{cdk.Aws.REGION}")
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=f"{name}: reads approved packages, updates stack {stack.stack_name}")
        self.role.add_to_policy(iam.PolicyStatement(
            sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadPackages", actions=["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
            resources=[arn("sagemaker", f"model-package-group/{config.model_package_group_prefix}*"),
                       arn("sagemaker", f"model-package/{config.model_package_group_prefix}*/*")]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="UpdateThisStack", actions=["cloudformation:DescribeStacks", "cloudformation:UpdateStack"],
            resources=[stack.stack_id]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DeployWithTheCdkRole", actions=["iam:PassRole"], resources=[deployment_role],
            conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}))
        self.function = lambda_.Function(
            self, "Function", function_name=name, runtime=RUNTIME, handler="handler.handler",
            code=lambda_.Code.from_asset(str(CODE), exclude=["__pycache__", "__init__.py"]), role=self.role,
            timeout=cdk.Duration.seconds(60), memory_size=256, log_group=self.log_group,
            description="Deploys an approved model package through the stack (its endpoint's canary does the rest)",
            environment={
                "STACK_NAME": stack.stack_name, "CLOUDFORMATION_ROLE_ARN": deployment_role,
                "PACKAGE_PARAMETER": outputs.PACKAGE_PARAMETER, "DIGEST_PARAMETER": outputs.DIGEST_PARAMETER,
                "STATISTICS_PARAMETER": outputs.BASELINE_STATISTICS_PARAMETER,
                "CONSTRAINTS_PARAMETER": outputs.BASELINE_CONSTRAINTS_PARAMETER,
                "QUALITY_PARAMETER": outputs.QUALITY_CONSTRAINTS_PARAMETER})
        # The CDK makes the function depend on its role and the role's policy; the role is also in its Arn,
        # which cfn-lint flags as redundant (W3005): only the policy needs the explicit dependency.
        policy = cast(iam.CfnPolicy, self.role.node.find_child("DefaultPolicy").node.default_child)
        cast(lambda_.CfnFunction, self.function.node.default_child).add_override(
            "DependsOn", [stack.get_logical_id(policy)])
        approved.add_target(targets.LambdaFunction(self.function, retry_attempts=2))

