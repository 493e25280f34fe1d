"""CDK entry point: `npx cdk synth` / `npx cdk deploy`.

Context: `sagestack:stage` (local, dev or prod; default local) picks the StageConfig;
`sagestack:modelPackageArn` with `sagestack:modelSha256` adds the endpoint serving that package
(`sagestack endpoint deploy` passes both for the latest approved package).
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import model_to_serve, stage
from infra.nag import acknowledge
from infra.stack import SageStack

FEATURE_FLAGS = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:validateSnapshotRemovalPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
}
"""CDK behaviours this app opts into, set in code so that `cdk synth` and the tests' in-process
apps build the same template (the access-log bucket then grants log delivery by policy, not ACL)."""


def build(app: cdk.App) -> SageStack:
    for flag, value in FEATURE_FLAGS.items():
        app.node.set_context(flag, value)
    config = stage(app.node.try_get_context("sagestack:stage") or "local")
    model = model_to_serve(app.node.try_get_context("sagestack:modelPackageArn"),
                           app.node.try_get_context("sagestack:modelSha256"))
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    env = cdk.Environment(account=account, region=config.region)
    stack = SageStack(app, config.stack_name, config=config, model=model, env=env)
    acknowledge(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
