"""Snapshot -> one self-contained HTML page: Jinja2 templates, our CSS and JS, and plotly.js inlined.

Self-contained on purpose: the report is a file people mail, attach to a ticket or open on a
plane, so it loads nothing (no CDN, no second file). plotly.js comes from the plotly wheel
(pinned like any dependency), read once per process. Everything from AWS is escaped by the
templates (autoescape); figures travel as JSON through `tojson`, which escapes `<`, `>` and `&`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup
from rich.errors import MarkupError
from rich.text import Text

from sagestack import render
from sagestack.views import charts
from sagestack.views.collect import SECTIONS, Snapshot


@dataclass(frozen=True)
class Assets:
    css: Markup
    charts: Markup
    plotly: Markup


def inline_script(text: str) -> Markup:
    """JavaScript safe to inline in <script>: nothing in it may end the element early."""
    return Markup(text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT"))


@functools.cache
def assets() -> Assets:
    from plotly.offline import get_plotlyjs

    static = resources.files("sagestack.views") / "static"
    css = (static / "report.css").read_text(encoding="utf-8")
    if "</style" in css.lower():
        raise ValueError("report.css must not contain </style>")
    return Assets(css=Markup(css), charts=inline_script((static / "charts.js").read_text(encoding="utf-8")),
                  plotly=inline_script(get_plotlyjs()))


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if isinstance(moment, datetime) else "-"


def _took(start: Any, end: Any) -> str:
    return render.duration(start, end) if isinstance(start, datetime) and isinstance(end, datetime) else "-"


def _plain(text: Any) -> str:
    """Text the CLI colours with rich markup (`[red]ALARM[/]`), without the markup."""
    try:
        return Text.from_markup(str(text)).plain
    except MarkupError:
        return str(text)


def _tail(uri: Any, parts: int = 2) -> str:
    """An S3 URI's last `parts` path segments (`…/preprocess/train`): the bucket and run prefix repeat on
    every line of a step table; the whole URI is the element's title."""
    text = str(uri).rstrip("/")
    segments = text.removeprefix("s3://").split("/")
    return text if len(segments) <= parts + 1 else "…/" + "/".join(segments[-parts:])


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("sagestack.views", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, took=_took, metric=render.metric, plain=_plain, tail=_tail)
    return env


def report(snapshot: Snapshot) -> str:
    """The whole report of `snapshot` as one HTML document."""
    return environment().get_template("report.html").render(snap=snapshot, figures=charts.figures(snapshot),
                                                            assets=assets(), sections=SECTIONS, writable=False,
                                                            live=False)
