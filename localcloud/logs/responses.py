"""The CloudWatch Logs API layer: moto's, except FilterLogEvents, where moto ignores
logStreamNamePrefix and so answers with every stream of the group. SageMaker names a job's
streams `<job>/algo-1-...`, so reading one job's log (`sagestack logs job`, the console's log
tail) is a prefix filter: without it, every job's lines would be mixed in."""

from __future__ import annotations

import json

from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.responses import LogsResponse


class LocalLogsResponse(LogsResponse):
    def filter_log_events(self) -> str:
        group = self._get_param("logGroupName")
        names = self._get_param("logStreamNames", [])
        prefix = self._get_param("logStreamNamePrefix")
        if prefix is None:
            return super().filter_log_events()
        if names:
            raise InvalidParameterException("Cannot specify both logStreamNames and logStreamNamePrefix")
        if group not in self.logs_backend.groups:
            raise ResourceNotFoundException()
        names = [name for name in self.logs_backend.groups[group].streams if name.startswith(prefix)]
        if not names:  # moto reads an empty list as "every stream"
            return json.dumps({"events": [], "searchedLogStreams": []})
        events, next_token, searched = self.logs_backend.filter_log_events(
            group, names, self._get_param("startTime"), self._get_param("endTime"), self._get_param("limit"),
            self._get_param("nextToken"), self._get_param("filterPattern"), self._get_param("interleaved", False))
        return json.dumps({"events": events, "nextToken": next_token, "searchedLogStreams": searched})
