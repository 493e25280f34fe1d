"""`sagestack report`: the stack's lifecycle on one self-contained HTML page.

Pipeline runs with their test metrics, model versions, the monitors' drift and quality series
with per-feature histograms against the training baseline, the alarms' timeline and the alert
inbox: read through the AWS API (sagestack/views/collect.py) and rendered with the same views
the console will serve. The file loads nothing from the network.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from sagestack.context import App, pass_app
from sagestack.views import page
from sagestack.views.collect import Collector

DEFAULT = Path("sagestack-report.html")


def write(path: Path, html: str) -> None:
    """Write atomically: a reader (a browser reloading) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # a file like any other, not mkstemp's owner-only one
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(html)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT, show_default=True,
              help="Where to write the HTML file.")
@pass_app
def report(app: App, output: Path) -> None:
    """Write an HTML report: runs, model versions, drift and quality plots, alarm timeline, alerts."""
    s = app.settings
    with app.err.status("reading the stack's pipeline runs, models, monitors, alarms and alerts"):
        snapshot = Collector(app.client, deployer=str(s.deployer_function or "")).snapshot(
            stack=s.stack.name, target=s.where, pipeline=s.need("pipeline_name"), group=s.need("model_package_group"),
            endpoint=s.need("endpoint_name"), topic=s.need("alert_topic_arn"), queue=s.need("alert_queue_url"))
    html = page.report(snapshot)
    write(output, html)
    for section, problem in snapshot.problems.items():
        app.err.print(f"[yellow]{section}:[/] could not be read ({problem}); the report says so in its place")
    app.out.print(f"report written to {output} ({len(html) / 1e6:.1f} MB: {len(snapshot.runs)} pipeline runs, "
                  f"{len(snapshot.versions)} model versions, {len(snapshot.monitors)} monitors, "
                  f"{len(snapshot.timeline)} alarm state changes, {len(snapshot.alerts)} alerts)")
