"""What a model package must carry to be served, read from its description (no AWS calls here).

Shared by the function that deploys approved packages (handler.py) and the CLI's `endpoint
deploy`, so that both serve a package only under the same rules: it records the sha256 of
model.joblib it was registered with, once (its metadata and its serving container's variable
must agree, or it was edited after registration), and its Model Monitor baselines (what it has
of them) become the monitors' parameters. Standard library only: it ships in the function.
"""

from __future__ import annotations

from typing import Any

PIN_METADATA = "sagestack:model-sha256"
"""CustomerMetadataProperties key of the model.joblib digest the pipeline registered (pipelines.definition)."""
PIN_VARIABLE = "SAGESTACK_MODEL_SHA256"
"""The serving container variable inference/inference.py checks model.joblib against."""
_HEX = frozenset("0123456789abcdef")


class ReleaseError(ValueError):
    """The package cannot be served; the message says why."""


def model_digest(package: dict[str, Any]) -> str | None:
    """The sha256 of model.joblib the package (a DescribeModelPackage answer) was registered with, or None."""
    arn = package.get("ModelPackageArn", "?")
    found = set()
    metadata = (package.get("CustomerMetadataProperties") or {}).get(PIN_METADATA)
    if metadata:
        found.add(str(metadata).strip().lower())
    for container in (package.get("InferenceSpecification") or {}).get("Containers") or []:
        value = (container.get("Environment") or {}).get(PIN_VARIABLE)
        if value:
            found.add(str(value).strip().lower())
    if not found:
        return None
    if len(found) > 1:
        raise ReleaseError(f"model package {arn} records two different model digests ({', '.join(sorted(found))}); "
                           "it was changed after registration, refusing it")
    (digest,) = found
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise ReleaseError(f"model package {arn} records {digest[:80]!r} as its model digest, which is not a sha256")
    return digest


def baselines(package: dict[str, Any]) -> dict[str, str]:
    """The package's DriftCheckBaselines as the monitors need them: statistics and constraints for data
    quality (both or neither), constraints for model quality; "" for what it lacks."""
    found = package.get("DriftCheckBaselines") or {}

    def uri(section: str, kind: str) -> str:
        return str(((found.get(section) or {}).get(kind) or {}).get("S3Uri") or "")

    statistics, constraints = uri("ModelDataQuality", "Statistics"), uri("ModelDataQuality", "Constraints")
    if not (statistics and constraints):
        statistics = constraints = ""
    return {"statistics": statistics, "constraints": constraints, "quality": uri("ModelQuality", "Constraints")}
