"""The console's web application: the report's sections (sagestack/views), live, and approve/reject.

Why it is built so:
- The same views as `sagestack report` (one collector, one set of templates): the file is the
  console rendered once. Sections refresh themselves with htmx (polling their own URL), so a page
  follows a run or a deployment without reloading. htmx is served from the project's pinned
  node_modules and plotly.js from the plotly wheel: nothing comes from a CDN.
- It speaks only AWS APIs (boto3 through the CLI's context), so it works against localcloud,
  LocalStack's backplane and AWS alike; against AWS it is read-only unless started with
  `--allow-changes`.
- Safe by default: it answers only requests whose Host is the loopback address it serves on and
  whose Origin (when sent) is its own, so no other web page can drive it; every state-changing
  request carries the page's per-session token (CSRF); everything from AWS goes through Jinja2's
  autoescaping; an AWS error becomes a message on the page, never a stack trace.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, abort, request
from markupsafe import Markup

from sagestack.errors import SagestackError
from sagestack.views import charts, page
from sagestack.views.collect import Collector, Snapshot

ROOT = Path(__file__).resolve().parents[2]
HTMX = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
SECTIONS = ("runs", "versions", "monitors", "alarms", "alerts")
REFRESH_SECONDS = 5


def create(snapshot: LiveSnapshot, approve: Callable[[str, str, str], None] | None, host: str, port: int) -> Flask:
    """The console for `snapshot()` (a fresh Snapshot per request); `approve(version, status, comment)` changes
    a package's approval, or None when the console is read-only."""
    app = Flask(__name__)
    token = secrets.token_urlsafe(32)
    allowed_hosts = {f"{host}:{port}", f"localhost:{port}"}

    @app.before_request
    def only_this_console() -> None:
        if request.host not in allowed_hosts:
            abort(403, "this console answers only on its own loopback address")
        origin = request.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in allowed_hosts:
            abort(403, "requests from other pages are refused")
        if request.method == "POST" and not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), token):
            abort(403, "the request did not carry this page's token; reload the page")

    def render(template: str, **values: Any) -> str:
        return page.environment().get_template(template).render(**values)

    @app.get("/")
    def index() -> str:
        snap = snapshot()
        return render("console.html", snap=snap, figures=charts.figures(snap), assets=page.assets(),
                      htmx=Markup(_htmx()), token=token, sections=SECTIONS, refresh=REFRESH_SECONDS,
                      writable=approve is not None)

    @app.get("/sections/<name>")
    def section(name: str) -> str:
        if name not in SECTIONS:
            abort(404, f"there is no section {name!r}")
        snap = snapshot()
        every = charts.figures(snap)
        html = render(f"sections/{name}.html", snap=snap, figures=every, writable=approve is not None)
        figures = {key: figure for key, figure in every.items() if f'id="{key}"' in html}
        return render("console_section.html", html=Markup(html), figures=figures)

    @app.post("/versions/<version>/<decision>")
    def decide(version: str, decision: str) -> str:
        if approve is None:
            abort(403, "this console is read-only (start it with --allow-changes to approve models on AWS)")
        status = {"approve": "Approved", "reject": "Rejected"}.get(decision)
        if status is None or not version.isdigit():
            abort(404, "approve or reject a model version by its number")
        approve(version, status, request.form.get("comment", "")[:1024])
        snapshot.forget()
        return section("versions")

    @app.errorhandler(ClientError)
    @app.errorhandler(BotoCoreError)
    @app.errorhandler(SagestackError)
    def aws_problem(error: Exception) -> tuple[str, int]:
        return render("console_problem.html", problem=str(error)[:2000]), 502

    @app.errorhandler(403)
    @app.errorhandler(404)
    def refused(error: Any) -> tuple[str, int]:
        return render("console_problem.html", problem=error.description), error.code

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def _htmx() -> str:
    if not HTMX.is_file():
        raise SagestackError(f"htmx is not installed ({HTMX.relative_to(ROOT)} is missing): run `make setup`")
    return page.inline_script(HTMX.read_text(encoding="utf-8"))


class LiveSnapshot:
    """The stack's resources named in `names`, read through `collector` (as `sagestack report` does).

    The sections of a page refresh one by one; a snapshot younger than `fresh_for` seconds serves
    them all, so a page costs one round of AWS calls per refresh, not one per section. A change
    made from the console forgets it.
    """

    def __init__(self, collector: Collector, names: dict[str, str], fresh_for: float = 2.0):
        self.collector, self.names, self.fresh_for = collector, names, fresh_for
        self._lock = threading.Lock()
        self._kept: tuple[float, Snapshot] | None = None

    def __call__(self) -> Snapshot:
        with self._lock:
            if self._kept is not None and time.monotonic() - self._kept[0] < self.fresh_for:
                return self._kept[1]
            snap = self.collector.snapshot(**self.names)
            self._kept = (time.monotonic(), snap)
            return snap

    def forget(self) -> None:
        with self._lock:
            self._kept = None
