"""Small formatting helpers shared by the commands' tables and progress displays.

Why: times from AWS arrive as timezone-aware datetimes, statuses as CamelCase words;
people want local clock times, short durations and a colour per status, the same in every
table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from sagestack.errors import one_line

STATUS_STYLES = {
    "Succeeded": "green", "Completed": "green", "InService": "green", "Approved": "green",
    "Executing": "yellow", "Starting": "yellow", "InProgress": "yellow", "Creating": "yellow", "Updating": "yellow",
    "Stopping": "yellow", "PendingManualApproval": "cyan", "Pending": "cyan",
    "Failed": "red", "Rejected": "red", "Stopped": "magenta", "RollingBack": "magenta", "Deleting": "magenta",
}  # fmt: skip


def status_text(status: str | None) -> Text:
    status = status or "-"
    return Text(status, style=STATUS_STYLES.get(status, ""))


def clock(moment: Any) -> str:
    """A local date and time to the second, or '-'."""
    if not isinstance(moment, datetime):
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: Any, end: Any = None) -> str:
    """`1h 02m`, `3m 05s` or `12.3s` from `start` to `end` (now when `end` is None)."""
    if not isinstance(start, datetime):
        return "-"
    stop = end if isinstance(end, datetime) else datetime.now(UTC)
    seconds = max(0.0, (stop - start).total_seconds())
    return seconds_text(seconds)


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def short_id(arn: str) -> str:
    """The last path segment of an ARN (an execution id, a package version...)."""
    return arn.rsplit("/", 1)[-1]


STATE_COLOURS = {"ALARM": "red", "OK": "green", "INSUFFICIENT_DATA": "yellow"}
"""An alarm state's colour, wherever the CLI shows one."""


def table(*columns: str, title: str | None = None, show_header: bool = True) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold", pad_edge=False, box=None,
                   show_header=show_header)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def metric(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def one_line_reason(text: str, limit: int = 160) -> str:
    """A failure reason squeezed to one table cell."""
    return one_line(text, limit)
