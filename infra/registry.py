"""The model registry: the model package group the pipeline registers into and endpoints deploy from."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig


class ModelRegistry(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        # A group that holds packages cannot be deleted (on AWS either), and the models' history should
        # outlive the stack anyway: the group is retained, and its name ends with the first part of the
        # stack's id, so deploying the stack again after a destroy makes a new group instead of failing
        # on the old one's name.
        stack_uuid = cdk.Fn.select(2, cdk.Fn.split("/", cdk.Aws.STACK_ID))
        suffix = cdk.Fn.select(0, cdk.Fn.split("-", stack_uuid))
        self.group = sagemaker.CfnModelPackageGroup(
            self, "Group", model_package_group_name=cdk.Fn.join("", [config.model_package_group_prefix, suffix]),
            model_package_group_description=f"{config.prefix}: taxi trip-duration models the pipeline registered")
        self.group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.group_name: str = self.group.model_package_group_name
