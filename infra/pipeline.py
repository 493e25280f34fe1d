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

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

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
PROCESSING_CODE = "/opt/ml/processing/input/code"
"""Where a processing job finds its script (the SDK's code input), so where the entrypoint points."""


class TrainingPipeline(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, storage: Storage,
                 model_package_group: str, pipeline_role: iam.Role, model_role: iam.Role) -> None:
        super().__init__(scope, construct_id)
        bundle = code_bundle.build_code_bundle(_BUCKET, "code")
        outdir = Path(cdk.Stage.of(self).outdir)  # type: ignore[union-attr]
        text = cached_definition(DEFINITIONS_CACHE, bundle, dict(
            role_arn=_ROLE, bucket=_BUCKET, region=config.region, pipeline_name=config.pipeline_name, prefix=PREFIX,
            model_package_group_name=_GROUP, input_data_uri=_DATA))
        staging = outdir / "sagestack-code"
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
            script = key.rsplit("/", 1)[-1]
            if script.endswith(".py"):
                # A processing input keeps the object's file name, and an asset's is <hash>.py.
                text = _replace(text, f"{PROCESSING_CODE}/{script}", f"{PROCESSING_CODE}/{asset.s3_object_key}")
        self.input_data_uri = f"s3://{storage.data.bucket_name}/{PREFIX}/data/"
        text = _replace(text, _DATA, self.input_data_uri)
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


DEFINITIONS_CACHE = Path(__file__).resolve().parents[1] / "cdk.out" / "sagestack-definitions"
"""In the project's cdk.out whatever the assembly's folder: `sagestack deploy` synthesizes into a folder
of its own each time (cdk.py), and entries are written whole (a rename), so synths can share it."""


def cached_definition(cache: Path, bundle: code_bundle.CodeBundle, settings: dict[str, Any]) -> str:
    """`definition_json` for these settings, from `cache` when built before with the same inputs.

    Building imports the SageMaker SDK (about 2.5 s of every synth); the definition is a pure
    function of the settings, the job code, the `pipelines` sources and the SDK's version, so
    those make the cache key and an unchanged project synthesizes without the SDK.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for key in sorted(bundle):
        digest.update(key.encode() + bundle[key])
    for source in sorted(Path(__file__).resolve().parents[1].joinpath("pipelines").glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    digest.update(importlib.metadata.version("sagemaker").encode())
    path = cache / f"pipeline-{digest.hexdigest()[:32]}.json"
    if path.is_file():
        return path.read_text()
    text = definition_json(PipelineConfig(**settings), bundle)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)
    return text


def _replace(text: str, placeholder: str, value: str) -> str:
    if placeholder not in text:
        raise AssertionError(f"the pipeline definition does not mention {placeholder!r}")
    return text.replace(placeholder, value)
