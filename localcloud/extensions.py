"""Where localcloud plugs its behaviour into moto.

moto keeps state in per-account, per-region backends created lazily from the class a
`BackendDict` holds. Swapping that class for our subclass before the first request
makes every path that reaches SageMaker state (the HTTP API, moto's CloudFormation,
`/moto-api/reset`) meet our behaviour, without editing moto's code. Where moto's own
logic is wrong for us (it invents metric definitions, clears fields on partial
updates), the subclass overrides that method and says so in a comment.
"""

from __future__ import annotations

from pathlib import Path

from localcloud import settings

_installed = False


def install(data_dir: Path) -> None:
    """Install our backends (SageMaker, CloudFormation, S3), resource types and rule targets into moto (idempotent)."""
    global _installed
    settings.set_data_dir(data_dir)
    if _installed:
        return
    from moto.cloudformation import models as cloudformation
    from moto.s3 import models as s3
    from moto.sagemaker import models

    from localcloud import eventbridge
    from localcloud.cloudformation import install as install_resource_types
    from localcloud.cloudformation.backend import LocalCloudFormationBackend
    from localcloud.s3.backend import LocalS3Backend
    from localcloud.sagemaker.backend import LocalSageMakerBackend

    models.sagemaker_backends.backend = LocalSageMakerBackend
    cloudformation.cloudformation_backends.backend = LocalCloudFormationBackend
    s3.s3_backends.backend = LocalS3Backend
    install_resource_types()
    eventbridge.install()
    _installed = True


def shutdown() -> None:
    """Stop every execution, job and endpoint server in every account and region."""
    from moto.sagemaker import models

    from localcloud.sagemaker.backend import LocalSageMakerBackend

    for _account, _region, backend in models.sagemaker_backends.iter_backends():
        if isinstance(backend, LocalSageMakerBackend):
            backend.stop_everything()


def busy() -> bool:
    """Whether work runs in the background (SageMaker jobs, executions and deployments; stack operations)."""
    from moto.cloudformation import models as cloudformation
    from moto.sagemaker import models

    for backends in (models.sagemaker_backends, cloudformation.cloudformation_backends):
        for _account, _region, backend in backends.iter_backends():
            engine = getattr(backend, "engine", None)
            if engine is not None and engine.busy():
                return True
    return False
