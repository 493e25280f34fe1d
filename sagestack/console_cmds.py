"""`sagestack console`: the stack's runs, models, monitors, alarms and alerts, live in a browser.

Served on 127.0.0.1 (a free port unless --port names one), printed, never opened by itself.
Against localcloud or LocalStack it may approve and reject models; against AWS (--aws) it is
read-only unless --allow-changes says otherwise. See sagestack/console/server.py for how it
keeps other pages out.
"""

from __future__ import annotations

import click
from waitress.server import create_server

from localcloud.launcher import free_port
from sagestack.console.server import LiveSnapshot, create
from sagestack.context import App, pass_app
from sagestack.views.collect import Collector

HOST = "127.0.0.1"


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--allow-changes", is_flag=True, help="With --aws, allow approving and rejecting models.")
@pass_app
def console(app: App, port: int, allow_changes: bool) -> None:
    """Serve the console: pipeline runs, model versions (approve, reject), monitoring, alarms, alerts."""
    s = app.settings
    names = dict(stack=s.stack.name, target=s.where, pipeline=s.need("pipeline_name"),
                 group=s.need("model_package_group"), endpoint=s.need("endpoint_name"),
                 topic=s.need("alert_topic_arn"), queue=s.need("alert_queue_url"))
    writable = allow_changes or not app.target.aws
    group = names["group"]

    def decide(version: str, status: str, comment: str) -> None:
        arn = app.sagemaker.list_model_packages(ModelPackageGroupName=group, MaxResults=100)
        found = [p["ModelPackageArn"] for p in arn["ModelPackageSummaryList"]
                 if str(p.get("ModelPackageVersion")) == version]
        if not found:
            raise click.ClickException(f"model package group {group} has no version {version}")
        kwargs = {"ModelPackageArn": found[0], "ModelApprovalStatus": status}
        if comment:
            kwargs["ApprovalDescription"] = comment
        app.sagemaker.update_model_package(**kwargs)

    actual = port or free_port()  # the application checks requests against the address it serves on
    server = create_server(create(LiveSnapshot(Collector(app.client), names), decide if writable else None, HOST,
                                  actual), host=HOST, port=actual, threads=4)
    app.out.print(f"console for stack {s.stack.name} on {app.target.description}: http://{HOST}:{actual}/ "
                  f"({'approvals allowed' if writable else 'read-only'}; Ctrl-C stops it)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
