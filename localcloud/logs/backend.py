"""moto's CloudWatch Logs backend, answering through our responses (localcloud/logs/responses.py)."""

from __future__ import annotations

from typing import Any

from moto.logs.models import LogsBackend

from localcloud.logs import urls


class LocalLogsBackend(LogsBackend):
    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the backend's module name; ours is elsewhere.
        return urls
