"""The console's web application: four pages made of the report's sections (sagestack/views), live.

Why it is built so:
- The same views as `sagestack report` (one collector, one set of section templates): the file is
  the console's sections rendered once. Each page shows its sections (pipelines: the runs and one
  execution; registry: the versions and one version; endpoints; monitoring: monitors, alarms,
  alerts) and reads only what they need. Sections refresh themselves with htmx (polling their own
  URL, and at once after a change made here), so a page follows a run or a deployment without
  reloading. htmx is served from the project's pinned node_modules and plotly.js from the plotly
  wheel: nothing comes from a CDN.
- It speaks only AWS APIs (boto3 through the CLI's context), so it works against localcloud,
  LocalStack's backplane and AWS alike; against AWS it is read-only unless started with
  `--allow-changes`.
- Safe by default: it answers only requests whose Host is the loopback address it serves on and
  whose Origin (when sent) is its own, so no other web page can drive it; every state-changing
  request carries the page's per-session token (CSRF); everything from AWS goes through Jinja2's
  autoescaping; an AWS error becomes a message on the page, never a stack trace.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, abort, redirect, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from sagestack.console.actions import ActionError, Actions
from sagestack.errors import SagestackError
from sagestack.views import charts, page
from sagestack.views.collect import Collector, Snapshot

ROOT = Path(__file__).resolve().parents[2]
HTMX = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
PAGES = {"pipelines": ("runs", "execution"), "registry": ("versions", "version"), "endpoints": ("endpoint",),
         "monitoring": ("monitors", "alarms", "alerts")}
"""Each page and the sections it shows, in order."""
TITLES = {"pipelines": "Pipelines", "registry": "Model registry", "endpoints": "Endpoints", "monitoring": "Monitoring"}
SECTION_PAGE = {section: name for name, sections in PAGES.items() for section in sections}
CHOICES = ("execution", "step", "version")
"""Query parameters that pick what a page shows in detail."""
REFRESH_SECONDS = 5
_LIMIT = 256
"""The longest choice accepted (an execution id, a step name, a version number)."""


def create(snapshot: LiveSnapshot, actions: Actions | None, host: str, port: int) -> Flask:
    """The console reading through `snapshot`; `actions` change things, or None when it is read-only."""
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
        if request.method == "POST":
            if not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), token):
                abort(403, "the request did not carry this page's token; reload the page")
            if actions is None:
                abort(403, "this console is read-only (start it with --allow-changes to change things on AWS)")

    def render(template: str, **values: Any) -> str:
        return page.environment().get_template(template).render(**values)

    def choices() -> dict[str, str]:
        picked = {key: request.args[key] for key in CHOICES if request.args.get(key)}
        if any(len(value) > _LIMIT for value in picked.values()):
            abort(400, "that address is too long")
        return picked

    def read(name: str) -> Snapshot:
        return snapshot(PAGES[name], choices())

    @app.get("/")
    def index() -> ResponseReturnValue:
        return redirect("/pipelines")

    @app.get("/<name>")
    def show(name: str) -> str:
        if name not in PAGES:
            abort(404, f"there is no page {name!r}: the console has {', '.join(PAGES)}")
        snap = read(name)
        every = charts.figures(snap)
        parts = {section: part(section, snap, every) for section in PAGES[name]}
        return render("console.html", snap=snap, figures={}, parts=parts, assets=page.assets(),
                      htmx=Markup(_htmx()), token=token, page=name, pages=TITLES, query=urlencode(choices()),
                      refresh=REFRESH_SECONDS, writable=actions is not None)

    def part(name: str, snap: Snapshot, every: dict[str, Any]) -> Markup:
        """Section `name` with the figures it draws: what a page holds in place and what its refresh brings
        (each figure next to its chart, so a refreshed section's figure is the only one of its id)."""
        html = render(f"sections/{name}.html", snap=snap, figures=every, writable=actions is not None, live=True)
        figures = {key: figure for key, figure in every.items() if f'id="{key}"' in html}
        return Markup(render("console_section.html", html=Markup(html), figures=figures))

    def section_html(name: str) -> str:
        snap = read(SECTION_PAGE[name])
        return part(name, snap, charts.figures(snap))

    @app.get("/sections/<name>")
    def section(name: str) -> str:
        if name not in SECTION_PAGE:
            abort(404, f"there is no section {name!r}")
        return section_html(name)

    def changed(then: str) -> Response:
        """After a change: forget what was read, show `then`'s section and tell the page's others to refresh."""
        snapshot.forget()
        response = Response(section_html(then))
        response.headers["HX-Trigger"] = "changed"
        return response

    @app.post("/versions/<version>/<decision>")
    def decide(version: str, decision: str) -> Response:
        assert actions is not None
        status = {"approve": "Approved", "reject": "Rejected"}.get(decision)
        if status is None:
            abort(404, "a model version is approved or rejected")
        arn = actions.decide(version, status, request.form.get("comment", "").strip())
        snapshot.collector.forget_version(arn)
        return changed("version")

    @app.post("/executions")
    def start() -> Response:
        assert actions is not None
        execution = actions.start(dict(request.form.items()))
        snapshot.forget()
        response = Response("", 204)
        response.headers["HX-Redirect"] = f"/pipelines?{urlencode({'execution': execution})}"
        return response

    @app.post("/executions/<execution>/<verb>")
    def stop_or_retry(execution: str, verb: str) -> Response:
        assert actions is not None
        if verb not in ("stop", "retry"):
            abort(404, "an execution is stopped or retried")
        getattr(actions, verb)(execution)
        return changed("execution")

    @app.errorhandler(ClientError)
    @app.errorhandler(BotoCoreError)
    @app.errorhandler(SagestackError)
    def aws_problem(error: Exception) -> tuple[str, int]:
        return render("console_problem.html", problem=f"AWS said: {str(error)[:2000]}"), 502

    @app.errorhandler(ActionError)
    def refused_action(error: ActionError) -> tuple[str, int]:
        return render("console_problem.html", problem=str(error)), 400

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
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


def warm(snapshot: LiveSnapshot) -> threading.Thread:
    """Read every page once in the background as the console starts: the finished runs, jobs and versions
    it keeps are then read before a person opens the first page (which waits for the read under way
    rather than repeating it). What fails here shows on the page when it is opened."""

    def read_all() -> None:
        for sections in PAGES.values():
            with contextlib.suppress(Exception):
                snapshot(sections, {})

    thread = threading.Thread(target=read_all, name="console-warm", daemon=True)
    thread.start()
    return thread


class LiveSnapshot:
    """The stack's resources named in `names`, read through `collector` (as `sagestack report` does).

    The sections of a page refresh one by one; a snapshot of a page younger than `fresh_for`
    seconds serves them all, so a page costs one round of AWS calls per refresh, not one per
    section. A change made from the console forgets every snapshot.
    """

    def __init__(self, collector: Collector, names: dict[str, str], fresh_for: float = 2.0):
        self.collector, self.names, self.fresh_for = collector, names, fresh_for
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], tuple[float, Snapshot]] = {}

    def __call__(self, sections: tuple[str, ...], picked: dict[str, str]) -> Snapshot:
        key = (sections, *sorted(picked.items()))
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() - kept[0] < self.fresh_for:
                return kept[1]
            snap = self.collector.snapshot(**self.names, sections=sections, **picked)
            self._kept = {k: v for k, v in self._kept.items() if time.monotonic() - v[0] < self.fresh_for}
            self._kept[key] = (time.monotonic(), snap)
            return snap

    def forget(self) -> None:
        with self._lock:
            self._kept = {}
