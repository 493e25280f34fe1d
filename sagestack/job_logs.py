"""SageMaker jobs and their logs in CloudWatch Logs, shared by `sagestack logs` and the console.

SageMaker ships a job's output to `/aws/sagemaker/{Processing,Training,Transform}Jobs`, streams
`<job>/...` (localcloud does the same), so one job's log is the streams under `<job>/` there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class JobKind:
    describe: str
    """The Describe call (`describe_processing_job`...)."""
    name_key: str
    status_key: str
    log_group: str


KINDS = {kind: JobKind(f"describe_{snake}_job", f"{kind}Name", f"{kind}Status", f"/aws/sagemaker/{kind}s")
         for kind, snake in (("ProcessingJob", "processing"), ("TrainingJob", "training"),
                             ("TransformJob", "transform"))}
"""The job kinds a pipeline step's Metadata names ("ProcessingJob"...), and how to read each."""
DONE = ("Completed", "Failed", "Stopped")
"""A job's statuses once it ended."""


def job_prefix(name: str) -> str:
    """The stream prefix of job `name`'s log (its streams are `<job>/algo-1-...`)."""
    return f"{name}/"


@dataclass
class Tail:
    """New events of one log group (streams under a prefix), each event once, in time order."""

    logs: Any
    group: str
    prefix: str | None = None
    since: int = 0
    seen: set[str] = field(default_factory=set)

    def poll(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": self.since}
        if self.prefix:
            kwargs["logStreamNamePrefix"] = self.prefix
        found: list[dict[str, Any]] = []
        try:
            while True:
                page = self.logs.filter_log_events(**kwargs)
                found.extend(page.get("events", []))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []  # nothing written yet
            raise
        fresh = sorted((e for e in found if e["eventId"] not in self.seen),
                       key=lambda e: (e["timestamp"], e["eventId"]))
        if fresh:
            latest = fresh[-1]["timestamp"]
            self.seen = {e["eventId"] for e in found if e["timestamp"] >= latest}
            self.since = latest
        return fresh


def last_lines(logs: Any, kind: str, name: str, lines: int) -> list[str]:
    """The last `lines` messages of job `name`'s log (none while nothing was written)."""
    return [str(e["message"]).rstrip() for e in Tail(logs, KINDS[kind].log_group, job_prefix(name)).poll()[-lines:]]
