"""One model version in detail (the console's registry page): metrics, lineage and approval history.

Lineage is read from what the pipeline registered, through the API only:
- the execution that made it: the model artifact lives under `<runs>/<PipelineExecutionId>/train/`
  (pipelines/definition.py writes every run's outputs under its execution's id), or the
  package's MetadataProperties.GeneratedBy when AWS set it;
- the training data's digest, the hyperparameters and library versions: evaluation.json's
  "model" (training/evaluate.py copies them from model.json), the report the package's
  ModelQuality statistics point at;
- the code version: the content-hashed code bundle the serving container runs
  (`SAGEMAKER_SUBMIT_DIRECTORY`, `.../code/<sha256>/...`) and the model digest it pins.

SageMaker keeps only a package's latest decision (status, comment, who, when), so the history is
what that says (registered, then decided), for an approval the verdict the stack's deploying
function logged about the package (deploying, skipped or refused, and why), and whether the
endpoint serves it now (a release the canary rolled back was deploying, and is not served).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.deploy_approved_model import release
from sagestack import registry
from sagestack.views.documents import Documents

_RUN_FOLDER = re.compile(r"/([A-Za-z0-9-]+)/train/")
_CODE = re.compile(r"/code/([0-9a-f]{12,64})/")


@dataclass
class Decision:
    when: datetime | None
    status: str
    by: str
    comment: str


@dataclass
class VersionDetail:
    version: int
    arn: str
    approval: str
    metrics: dict[str, float]
    execution: str
    """The pipeline execution that registered it ("" when unknown)."""
    model_sha256: str
    data_sha256: str
    hyperparameters: dict[str, str]
    libraries: dict[str, str]
    code: str
    """The serving code bundle's digest (its S3 folder name)."""
    image: str
    history: list[Decision] = field(default_factory=list)
    deployment: dict[str, Any] = field(default_factory=dict)
    """The deploying function's verdict on this package ({} when it logged none)."""
    serving: list[str] | None = None
    """The stack endpoint's variants serving it now (None: the endpoint does not exist)."""


def _who(described: dict[str, Any], key: str) -> str:
    user = described.get(key) or {}
    return str(user.get("UserProfileName") or user.get("IamIdentity", {}).get("Arn") or "")


def _pin(described: dict[str, Any]) -> str:
    """The model digest the package pins (as the deploying function reads it), or why it cannot be trusted."""
    try:
        return release.model_digest(described) or ""
    except release.ReleaseError as e:
        return str(e)


def execution_of(described: dict[str, Any]) -> str:
    generated = str((described.get("MetadataProperties") or {}).get("GeneratedBy") or "")
    if ":pipeline/" in generated and "/execution/" in generated:
        return generated.rsplit("/", 1)[-1]
    container = ((described.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
    match = _RUN_FOLDER.search(str(container.get("ModelDataUrl") or ""))
    return match.group(1) if match else ""


def read(sagemaker: Any, documents: Documents, arn: str, verdict: dict[str, Any] | None,
         served: dict[str, str] | None) -> VersionDetail:
    """Version `arn` described; `verdict` is the deploying function's word on it, if any; `served` maps the
    endpoint's variants to the packages they serve (None without an endpoint)."""
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    statistics = ((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    report = documents.json(str(statistics.get("S3Uri") or "")) or {}
    model: dict[str, Any] = report["model"] if isinstance(report, dict) and isinstance(report.get("model"),
                                                                                    dict) else {}
    container = ((described.get("InferenceSpecification") or {}).get("Containers") or [{}])[0]
    environment = container.get("Environment") or {}
    code = _CODE.search(str(environment.get("SAGEMAKER_SUBMIT_DIRECTORY") or "") + "/")
    approval = str(described.get("ModelApprovalStatus", "-"))
    history = [Decision(described.get("CreationTime"), "registered", _who(described, "CreatedBy"), "")]
    if approval != "PendingManualApproval" or described.get("ApprovalDescription"):
        history.append(Decision(described.get("LastModifiedTime"), approval, _who(described, "LastModifiedBy"),
                                str(described.get("ApprovalDescription") or "")))
    return VersionDetail(
        version=int(described.get("ModelPackageVersion") or 0), arn=arn, approval=approval,
        metrics=registry.metric_values(report), execution=execution_of(described),
        model_sha256=_pin(described) or str(model.get("sha256") or ""),
        data_sha256=str(model.get("data_sha256") or ""),
        hyperparameters={str(k): str(v) for k, v in (model.get("hyperparameters") or {}).items()},
        libraries={str(k): str(v) for k, v in (model.get("versions") or {}).items()},
        code=code.group(1) if code else "", image=str(container.get("Image") or ""),
        history=history, deployment=dict(verdict or {}),
        serving=None if served is None else sorted(v for v, package in served.items() if package == arn))
