"""Where localcloud plugs its behaviour into moto.

moto keeps state in per-account, per-region backends created lazily from the class a
`BackendDict` holds. Swapping that class for our subclass before the first request
makes every path that reaches SageMaker state (the HTTP API, moto's CloudFormation,
`/moto-api/reset`) meet our behaviour, without editing moto's code. Where moto's own
logic is wrong for us (it invents metric definitions, clears fields on partial
updates), the subclass overrides that method and says so in a comment.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from localcloud import settings

_installed = False
_cloudformation_lock = threading.Lock()
_cloudformation_ready = threading.Event()


def install(data_dir: Path) -> None:
    """Install our backends (SageMaker, S3, CloudWatch, Logs, Lambda), rule targets and the alarm evaluator
    (idempotent).

    CloudFormation is installed apart (`install_cloudformation`): importing moto's template engine
    imports every service it can create (EC2's region and instance-type tables among them) and
    takes longer than everything else together, so the server does it in the background while it
    already answers, and holds CloudFormation requests (`ready_for`) until it is done.
    """
    global _installed
    settings.set_data_dir(data_dir)
    if _installed:
        return
    from moto.awslambda import models as awslambda
    from moto.cloudwatch import models as cloudwatch
    from moto.logs import models as logs
    from moto.s3 import models as s3
    from moto.sagemaker import models

    from localcloud import eventbridge
    from localcloud.cloudwatch import evaluator
    from localcloud.cloudwatch.backend import LocalCloudWatchBackend
    from localcloud.lambda_.backend import LocalLambdaBackend
    from localcloud.logs.backend import LocalLogsBackend
    from localcloud.s3.backend import LocalS3Backend
    from localcloud.sagemaker import monitoring
    from localcloud.sagemaker.backend import LocalSageMakerBackend

    models.sagemaker_backends.backend = LocalSageMakerBackend
    s3.s3_backends.backend = LocalS3Backend
    cloudwatch.cloudwatch_backends.backend = LocalCloudWatchBackend
    awslambda.lambda_backends.backend = LocalLambdaBackend
    logs.logs_backends.backend = LocalLogsBackend
    eventbridge.install()
    evaluator.start()
    monitoring.start()
    _installed = True


def install_cloudformation() -> None:
    """Install our CloudFormation backend and resource types into moto (idempotent, thread-safe)."""
    with _cloudformation_lock:
        if _cloudformation_ready.is_set():
            return
        from moto.cloudformation import models as cloudformation

        from localcloud.cloudformation import install as install_resource_types
        from localcloud.cloudformation.backend import LocalCloudFormationBackend

        cloudformation.cloudformation_backends.backend = LocalCloudFormationBackend
        install_resource_types()
        _cloudformation_ready.set()


def ready_for(service: str) -> None:
    """Wait until what `service`'s requests need is installed (CloudFormation's, right after start)."""
    if service == "cloudformation" and not _cloudformation_ready.is_set():
        install_cloudformation()  # waits for the background install, or does it if none runs


def shutdown() -> None:
    """Stop every execution, job, endpoint server and function invocation in every account and region."""
    from moto.awslambda.models import lambda_backends
    from moto.sagemaker import models

    from localcloud.lambda_.backend import LocalLambdaBackend
    from localcloud.sagemaker.backend import LocalSageMakerBackend

    for _account, _region, backend in models.sagemaker_backends.iter_backends():
        if isinstance(backend, LocalSageMakerBackend):
            backend.stop_everything()
    for _account, _region, functions in lambda_backends.iter_backends():
        if isinstance(functions, LocalLambdaBackend):
            functions.engine.stop_all()


def busy() -> bool:
    """Whether work runs in the background (SageMaker jobs, executions and deployments; stack operations;
    function invocations)."""
    from moto.awslambda.models import lambda_backends
    from moto.sagemaker import models

    dicts: list[Any] = [models.sagemaker_backends, lambda_backends]
    if _cloudformation_ready.is_set():
        from moto.cloudformation import models as cloudformation

        dicts.append(cloudformation.cloudformation_backends)
    for backends in dicts:
        for _account, _region, backend in backends.iter_backends():
            engine = getattr(backend, "engine", None)
            if engine is not None and engine.busy():
                return True
    return False
