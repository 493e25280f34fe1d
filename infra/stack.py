"""The sagestack stack: one construct per concern, wired together here."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from infra.config import StageConfig
from infra.storage import Storage


class SageStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage", config=config)
        cdk.CfnOutput(self, "DataBucket", value=self.storage.data.bucket_name)
        cdk.CfnOutput(self, "ArtifactsBucket", value=self.storage.artifacts.bucket_name)
