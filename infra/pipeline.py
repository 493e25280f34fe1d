"""The training pipeline: `AWS::SageMaker::Pipeline` with the definition `pipelines/` builds, code as assets.

The definition is built by the same pure function the tests pin (`pipelines.definition`), with
placeholder values for what only CloudFormation knows (bucket names, the role's ARN, where the
assets land), which are then replaced by CDK tokens in the definition's text. So the SDK never
sees a token, and the deployed definition is exactly the tested one with real names.

The job scripts and the training and inference source tarballs are CDK file assets: content-
hashed, uploaded by the CDK CLI to the bootstrap bucket, and uploaded again only when they
change. The roles get read access to exactly those objects.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.storage import Storage
from pipelines import code_bundle
from pipelines.config import PipelineConfig
from pipelines.definition import definition_json

PREFIX = "taxi-duration"
"""Key prefix of the workload in the data and artifacts buckets."""
_BUCKET = "sagestack-placeholder-bucket"
_DATA = "s3://sagestack-placeholder-data/input/"
_ROLE = "arn:aws:iam::000000000000:role/sagestack-placeholder-role"
_GROUP = "sagestack-placeholder-group"


class TrainingPipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: Storage,
                 model_package_group: str, pipeline_role: iam.Role, model_role: iam.Role) -> None:
        super().__init__(scope, construct_id)
        bundle = code_bundle.build_code_bundle(_BUCKET, "code")
        settings = PipelineConfig(role_arn=_ROLE, bucket=_BUCKET, region=config.region,
                                  pipeline_name=config.pipeline_name, prefix=PREFIX,
                                  model_package_group_name=_GROUP, input_data_uri=_DATA)
        text = definition_json(settings, bundle)
        staging = Path(cdk.Stage.of(self).outdir) / "sagestack-code"  # type: ignore[union-attr]
        self.assets: dict[str, s3_assets.Asset] = {}
        for role_name in sorted(bundle.roles):
            key = bundle.key(role_name)
            path = staging / role_name / key.rsplit("/", 1)[-1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bundle[key])
            asset = s3_assets.Asset(self, f"Code-{role_name}", path=str(path))
            self.assets[role_name] = asset
            readers = [pipeline_role, model_role] if role_name == code_bundle.INFERENCE else [pipeline_role]
            for reader in readers:
                reader.add_to_policy(iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)]))
            text = _replace(text, bundle.uri(role_name), asset.s3_object_url)
        text = _replace(text, _DATA, f"s3://{storage.data.bucket_name}/{PREFIX}/data/")
        text = _replace(text, f"s3://{_BUCKET}/", f"s3://{storage.artifacts.bucket_name}/")
        text = _replace(text, _ROLE, pipeline_role.role_arn)
        text = _replace(text, _GROUP, model_package_group)
        if "placeholder" in text:
            raise AssertionError("a placeholder survived in the pipeline definition")
        self.definition_text = text
        self.pipeline = sagemaker.CfnPipeline(
            self, "Pipeline", pipeline_name=config.pipeline_name, role_arn=pipeline_role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": text},
            pipeline_description="Taxi trip duration: preprocess, train, evaluate, baseline, gate, register")
        self.name = config.pipeline_name
        self.arn = cdk.Arn.format(cdk.ArnComponents(service="sagemaker", resource="pipeline",
                                                    resource_name=config.pipeline_name.lower()), cdk.Stack.of(self))


def _replace(text: str, placeholder: str, value: str) -> str:
    if placeholder not in text:
        raise AssertionError(f"the pipeline definition does not mention {placeholder!r}")
    return text.replace(placeholder, value)
