"""What varies between deployments of the taxi pipeline, in one typed, validated place.

Why a frozen dataclass: the pipeline definition must be a pure function of its inputs
(same config + same code bundle -> same JSON bytes), so everything that may differ
between accounts, regions or stages lives here and nowhere else: no environment
variables or AWS lookups are consulted while building. `infra/` and the CLI construct
one of these per environment; bad values fail here with a message naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The newest SageMaker scikit-learn framework image (1.9-0: Python 3.12, scikit-learn 1.9.0,
# pandas 2.2.3), published from one ECR account per region; `sagemaker.core.image_uris.retrieve`
# knows the table and works offline. The constant below is its us-east-1 answer, used only if
# the SDK cannot answer. localcloud runs the jobs on a runtime built from this image's pins.
SKLEARN_FRAMEWORK_VERSION = "1.9-0"
FALLBACK_SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"

_PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


def sklearn_image_uri(region: str) -> str:
    """The sklearn framework image for `region`, from the SDK's offline table when possible."""
    from pipelines.offline_sdk import hermetic_sdk

    try:
        with hermetic_sdk(region):  # the SDK's import reads AWS settings; keep it offline and predictable
            from sagemaker.core import image_uris

            return str(image_uris.retrieve("sklearn", region, version=SKLEARN_FRAMEWORK_VERSION))
    except ImportError:
        if region == "us-east-1":
            return FALLBACK_SKLEARN_IMAGE
        raise ValueError(f"the SageMaker SDK is not importable; give image_uri explicitly for {region}") from None
    except ValueError as e:
        raise ValueError(f"no sklearn {SKLEARN_FRAMEWORK_VERSION} image known for region {region}: {e}") from e


@dataclass(frozen=True)
class PipelineConfig:
    """Deployment settings of the taxi trip-duration pipeline.

    `image_uri` defaults to the sklearn framework image of `region` (resolved once, here,
    so the definition builder never has to). Code lives under `<prefix>/code/`, run outputs
    under `<prefix>/runs/<execution id>/`, and the default raw data under `<prefix>/data/`.
    """

    role_arn: str
    bucket: str
    region: str = "us-east-1"
    pipeline_name: str = "sagestack-taxi-duration"
    prefix: str = "taxi-duration"
    model_package_group_name: str = "sagestack-taxi-duration"
    image_uri: str = ""
    input_data_uri: str = ""
    processing_instance_type: str = "ml.m5.large"
    training_instance_type: str = "ml.m5.large"
    inference_instance_types: tuple[str, ...] = ("ml.m5.large",)
    rmse_threshold: float = 8.0
    max_runtime_seconds: int = 3600
    # What the definition hands the training job (train.py's defaults unless told).
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    seed: int = 42

    def __post_init__(self) -> None:
        problems = []
        if not _ROLE_ARN.match(self.role_arn):
            problems.append(f"role_arn {self.role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            problems.append(f"bucket {self.bucket!r} is not a valid S3 bucket name")
        if not _REGION.match(self.region):
            problems.append(f"region {self.region!r} is not an AWS region name such as us-east-1")
        if not _PIPELINE_NAME.match(self.pipeline_name):
            problems.append(f"pipeline_name {self.pipeline_name!r} must be letters, digits and single hyphens")
        if not _GROUP_NAME.match(self.model_package_group_name):
            problems.append(
                f"model_package_group_name {self.model_package_group_name!r} must be 1-63 letters, digits, hyphens"
            )
        if self.prefix != self.prefix.strip("/") or not self.prefix or "//" in self.prefix:
            problems.append(f"prefix {self.prefix!r} must be non-empty, without leading/trailing or double slashes")
        if self.input_data_uri and not self.input_data_uri.startswith("s3://"):
            problems.append(f"input_data_uri {self.input_data_uri!r} must be an s3:// URI")
        for name in ("processing_instance_type", "training_instance_type"):
            if not _INSTANCE_TYPE.match(getattr(self, name)):
                problems.append(f"{name} {getattr(self, name)!r} is not a SageMaker instance type (ml.x.y)")
        if not self.inference_instance_types or not all(_INSTANCE_TYPE.match(t) for t in self.inference_instance_types):
            problems.append(f"inference_instance_types {self.inference_instance_types!r} must be ml.x.y types")
        if not self.rmse_threshold > 0:
            problems.append(f"rmse_threshold must be positive, not {self.rmse_threshold!r}")
        if self.max_runtime_seconds < 1:
            problems.append(f"max_runtime_seconds must be at least 1, not {self.max_runtime_seconds!r}")
        if self.max_iter < 1 or self.max_leaf_nodes < 2 or not self.learning_rate > 0:
            problems.append("max_iter >= 1, max_leaf_nodes >= 2 and learning_rate > 0 are required")
        if problems:
            raise ValueError("invalid pipeline config: " + "; ".join(problems))
        if not self.image_uri:
            object.__setattr__(self, "image_uri", sklearn_image_uri(self.region))
        if not self.input_data_uri:
            object.__setattr__(self, "input_data_uri", f"s3://{self.bucket}/{self.prefix}/data/")

    @property
    def code_prefix(self) -> str:
        """Key prefix of the content-hashed job code."""
        return f"{self.prefix}/code"

    @property
    def runs_uri(self) -> str:
        """S3 prefix under which each execution writes its own folder."""
        return f"s3://{self.bucket}/{self.prefix}/runs"
