"""The demo's releases: the retrained model reaches production through a canary; a bad release rolls back.

Both go the way every release goes: a model package is approved, the stack's rule invokes its
deploying function, the stack's endpoint takes the model through a canary (one of two
instances, bakes watched by the rollback alarms). The bad release is the current model with
serving code that fails every request, registered as the pipeline registers models (its digest,
its baselines): under steady traffic the 5XX alarm fires during the canary's bake and the
endpoint goes back to the old model by itself.
"""

from __future__ import annotations

import io
import tarfile
import threading
from typing import Any

FAILING = b'''

def predict_fn(input_data, model):  # the bad release: every prediction fails
    raise RuntimeError("release under test: this build fails every request")
'''


def register_failing_release(sm: Any, s3: Any, group: str) -> str:
    """Register the latest package's model again, with serving code that fails every request; its version."""
    latest = sm.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime",
                                    SortOrder="Descending")["ModelPackageSummaryList"][0]
    package = sm.describe_model_package(ModelPackageName=latest["ModelPackageArn"])
    container = dict(package["InferenceSpecification"]["Containers"][0])
    environment = dict(container["Environment"])
    bucket, _, key = environment["SAGEMAKER_SUBMIT_DIRECTORY"].removeprefix("s3://").partition("/")
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    program = environment.get("SAGEMAKER_PROGRAM", "inference.py")
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(original)) as source, tarfile.open(fileobj=rebuilt, mode="w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if member.name.lstrip("./") == program and data is not None:
                data += FAILING
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    failing_key = f"{key.rsplit('/', 1)[0]}/failing-release/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=failing_key, Body=rebuilt.getvalue())
    environment["SAGEMAKER_SUBMIT_DIRECTORY"] = f"s3://{bucket}/{failing_key}"
    container["Environment"] = environment
    created = sm.create_model_package(
        ModelPackageGroupName=group, ModelPackageDescription="the current model, with serving code that fails",
        InferenceSpecification={**package["InferenceSpecification"], "Containers": [container]},
        CustomerMetadataProperties=package.get("CustomerMetadataProperties") or {},
        DriftCheckBaselines=package.get("DriftCheckBaselines") or {}, ModelApprovalStatus="PendingManualApproval")
    return str(sm.describe_model_package(ModelPackageName=created["ModelPackageArn"])["ModelPackageVersion"])


class SteadyTraffic:
    """One request at a time to the endpoint from a thread, counting what was answered and what failed."""

    def __init__(self, runtime: Any, endpoint: str, row: str):
        self.runtime, self.endpoint, self.row = runtime, endpoint, row.encode()
        self.answered = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.invoke_endpoint(EndpointName=self.endpoint, ContentType="text/csv", Body=self.row)
                self.answered += 1
            except Exception:  # the failing canary's share: what the 5XX alarm counts
                self.failed += 1

    def __enter__(self) -> SteadyTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
