"""Process-wide localcloud settings, set once by the server at start."""

from __future__ import annotations

import tempfile
from pathlib import Path

_data_dir: Path | None = None


def set_data_dir(path: Path) -> None:
    global _data_dir
    _data_dir = path


def data_dir() -> Path:
    """Root of job folders, model-server folders and local logs."""
    global _data_dir
    if _data_dir is None:
        _data_dir = Path(tempfile.mkdtemp(prefix="localcloud-"))
    return _data_dir
