"""The rules a model package must meet to be served (functions/deploy_approved_model/release.py), shared by
the deploying function and `sagestack endpoint deploy`."""

from __future__ import annotations

import pytest

from functions.deploy_approved_model.release import ReleaseError, baselines, model_digest

DIGEST = "ab" * 32


def _package(metadata: str | None = DIGEST, container: str | None = DIGEST) -> dict:
    env = {"SAGESTACK_MODEL_SHA256": container} if container else {}
    return {"ModelPackageArn": "arn:p/1", "CustomerMetadataProperties": {"sagestack:model-sha256": metadata}
            if metadata else {}, "InferenceSpecification": {"Containers": [{"Environment": env}]}}


def test_a_digest_recorded_in_both_places_is_the_models() -> None:
    assert model_digest(_package()) == DIGEST
    assert model_digest(_package(metadata=DIGEST.upper(), container=None)) == DIGEST
    assert model_digest(_package(metadata=None, container=None)) is None


@pytest.mark.parametrize(("metadata", "container", "says"), [
    (DIGEST, "cd" * 32, "records two different model digests"),
    ("not-a-digest", None, "which is not a sha256"),
])
def test_an_edited_or_malformed_digest_is_refused(metadata: str, container: str | None, says: str) -> None:
    with pytest.raises(ReleaseError, match=says):
        model_digest(_package(metadata, container))


def test_baselines_become_monitor_parameters_with_data_quality_all_or_nothing() -> None:
    full = {"DriftCheckBaselines": {
        "ModelDataQuality": {"Statistics": {"S3Uri": "s3://b/s.json"}, "Constraints": {"S3Uri": "s3://b/c.json"}},
        "ModelQuality": {"Constraints": {"S3Uri": "s3://b/q.json"}}}}
    assert baselines(full) == {"statistics": "s3://b/s.json", "constraints": "s3://b/c.json", "quality": "s3://b/q.json"}
    half = {"DriftCheckBaselines": {"ModelDataQuality": {"Statistics": {"S3Uri": "s3://b/s.json"}}}}
    assert baselines(half) == {"statistics": "", "constraints": "", "quality": ""}
    assert baselines({}) == {"statistics": "", "constraints": "", "quality": ""}
