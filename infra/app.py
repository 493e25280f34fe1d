"""CDK entry point: `npx cdk synth` (stage from context `sagestack:stage`, default local)."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import stage
from infra.stack import SageStack


def build(app: cdk.App) -> SageStack:
    config = stage(app.node.try_get_context("sagestack:stage") or "local")
    env = cdk.Environment(account=config.account, region=config.region) if config.account else None
    stack = SageStack(app, f"SageStack-{config.name}", config=config, env=env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = cdk.App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
