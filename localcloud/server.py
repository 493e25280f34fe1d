"""The localcloud server: moto's AWS services with real SageMaker execution layered on.

One WSGI application on one port. Requests for `/_localcloud/*` are ours, SageMaker
Runtime invocations go straight to our router (they are on the hot path, so they skip
moto's Flask dispatch), and everything else is moto's, with our SageMaker backend
installed in place of moto's (see `localcloud.extensions`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from localcloud import aws, processes

log = logging.getLogger("localcloud")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
SERVICES = [
    "s3", "iam", "sts", "ssm", "kms", "sns", "sqs", "events", "cloudwatch", "logs",
    "cloudformation", "lambda", "application-autoscaling", "sagemaker", "sagemaker-runtime",
]

StartResponse = Callable[..., Any]


class LocalCloudApp:
    """Routes a request to our handlers or to moto's dispatcher."""

    def __init__(self, moto_app: Callable, invocations: Callable, started: float):
        self.moto_app = moto_app
        self.invocations = invocations
        self.started = started

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localcloud/"):
            return self._own(path, start_response)
        if path.startswith("/endpoints/") and environ.get("REQUEST_METHOD") == "POST" and _is_runtime(environ):
            return self.invocations(environ, start_response)
        return self.moto_app(environ, start_response)

    def _own(self, path: str, start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_localcloud/health":
            body = json.dumps({
                "status": "ready",
                "services": SERVICES,
                "uptime_seconds": round(time.monotonic() - self.started, 3),
                "aws_endpoint": aws.endpoint_url(),
            }).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        body = json.dumps({"message": f"no such localcloud path: {path}"}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _is_runtime(environ: dict) -> bool:
    """True for SageMaker Runtime InvokeEndpoint calls (signed for service `sagemaker`)."""
    path = environ.get("PATH_INFO", "")
    if not path.endswith("/invocations") or path.endswith("/async-invocations"):
        return False
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return "/sagemaker/aws4_request" in auth or not auth


def build_app(data_dir: Path) -> LocalCloudApp:
    """Install our extensions into moto and assemble the WSGI application."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from localcloud import extensions
    from localcloud.sagemaker.invocations import InvocationRouter

    started = time.monotonic()
    extensions.install(data_dir)
    return LocalCloudApp(DomainDispatcherApplication(create_backend_app), InvocationRouter(), started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("LOCALCLOUD_HOST", DEFAULT_HOST),
                        help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCALCLOUD_PORT", DEFAULT_PORT)),
                        help="port to listen on (default 4566)")
    parser.add_argument("--data-dir", default=os.environ.get("LOCALCLOUD_DATA_DIR"),
                        help="where job folders, model servers and logs live (default: a temporary "
                             "folder removed at exit)")
    parser.add_argument("--log-level", default=os.environ.get("LOCALCLOUD_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    keep = args.data_dir is not None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="localcloud-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    server = make_server(args.host, args.port, None, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    connect_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    os.environ.setdefault(aws.ENDPOINT_ENV, f"http://{connect_host}:{port}")
    server.app = build_app(data_dir)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("localcloud ready on http://%s:%s (data in %s)", args.host, port, data_dir)
    try:
        server.serve_forever()
    finally:
        from localcloud import extensions

        extensions.shutdown()
        processes.terminate_all()
        server.server_close()
        if not keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        log.info("localcloud stopped")
