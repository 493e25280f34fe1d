"""`sagestack console`: the stack's pipelines, model registry, endpoint and monitoring, live in a browser.

Served on 127.0.0.1 (a free port unless --port names one), printed, never opened by itself.
Against localcloud or LocalStack it may approve and reject models and start, stop and retry
pipeline runs; against AWS (--aws) it is read-only unless --allow-changes says otherwise. See
sagestack/console/server.py for how it keeps other pages out.
"""

from __future__ import annotations

import click
from waitress.server import create_server

from localcloud.launcher import free_port
from sagestack.console.actions import Actions
from sagestack.console.server import LiveSnapshot, create, warm
from sagestack.context import App, pass_app
from sagestack.views.collect import Collector

HOST = "127.0.0.1"


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@click.option("--allow-changes", is_flag=True,
              help="With --aws, allow approving models and starting, stopping, retrying pipeline runs.")
@pass_app
def console(app: App, port: int, allow_changes: bool) -> None:
    """Serve the console: pipelines (start, stop, retry), the model registry (approve, reject), endpoints,
    monitoring."""
    s = app.settings
    names = dict(stack=s.stack.name, target=s.where, pipeline=s.need("pipeline_name"),
                 group=s.need("model_package_group"), endpoint=s.need("endpoint_name"),
                 topic=s.need("alert_topic_arn"), queue=s.need("alert_queue_url"))
    writable = allow_changes or not app.target.aws
    actions = Actions(app.client, pipeline=names["pipeline"], group=names["group"]) if writable else None
    actual = port or free_port()  # the application checks requests against the address it serves on
    collector = Collector(app.client, deployer=str(s.deployer_function or ""))
    snapshot = LiveSnapshot(collector, names)
    server = create_server(create(snapshot, actions, HOST, actual), host=HOST, port=actual, threads=4)
    warm(snapshot)
    app.out.print(f"console for stack {s.stack.name} on {app.target.description}: http://{HOST}:{actual}/ "
                  f"({'changes allowed' if writable else 'read-only'}; Ctrl-C stops it)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
