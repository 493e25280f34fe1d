"""Process-wide localcloud settings, set once by the server at start, and the one way names become folders."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

__all__ = ["ENTITY_NAME", "data_dir", "resource_dir", "set_data_dir"]

ENTITY_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
"""SageMaker's name pattern for jobs, endpoints, endpoint configs and variants (the API model's
EntityName, TrainingJobName, ... all say `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`)."""

_data_dir: Path | None = None


def set_data_dir(path: Path) -> None:
    global _data_dir
    _data_dir = path.resolve()


def data_dir() -> Path:
    """Root of job folders, model-server folders and local logs."""
    global _data_dir
    if _data_dir is None:
        _data_dir = Path(tempfile.mkdtemp(prefix="localcloud-")).resolve()
    return _data_dir


def resource_dir(kind: str, *names: str) -> Path:
    """`<data dir>/<kind>/<name>/...` for resource names, which must be SageMaker entity names.

    Every name is checked against the pattern before it touches the file system, and the
    result is resolved (symbolic links included) and checked to lie under the data dir, so no
    name, however it reached us (API, CloudFormation, a pipeline), can point elsewhere.
    Raises ValueError naming the offending name.
    """
    for name in names:
        if not isinstance(name, str) or ENTITY_NAME.fullmatch(name) is None:
            raise ValueError(f"{name!r} is not a valid SageMaker resource name "
                             f"(pattern {ENTITY_NAME.pattern}), so it cannot name a folder")
    root = data_dir()
    folder = root.joinpath(kind, *names).resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"{folder} is outside localcloud's data dir {root}")
    return folder


def snapshot_path(data_dir: Path) -> Path:
    """Where a server with this data dir keeps its state (see `localcloud.persistence`)."""
    return data_dir / "state" / "snapshot"
