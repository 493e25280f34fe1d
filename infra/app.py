"""CDK entry point: `npx cdk synth` / `npx cdk deploy`.

Context `sagestack:stage` (local, dev or prod; default local) picks the StageConfig;
`sagestack:approval-function=false` leaves out the function that deploys approved models (for a
cloud that cannot run Lambda functions: LocalStack without Docker). The model the
endpoint serves is a stack parameter, not context (see infra/serving.py): `sagestack endpoint
deploy` passes `--parameters ModelPackageArn=... --parameters ModelSha256=...` for the latest
approved package, and later deploys keep those values.
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import stage
from infra.nag import acknowledge
from infra.stack import SageStack

APPROVAL_FUNCTION_CONTEXT = "sagestack:approval-function"
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
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    env = cdk.Environment(account=account, region=config.region)
    approvals = str(app.node.try_get_context(APPROVAL_FUNCTION_CONTEXT) or "true").lower() != "false"
    stack = SageStack(app, config.stack_name, config=config, env=env, approval_function=approvals)
    acknowledge(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
