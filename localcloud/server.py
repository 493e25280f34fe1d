"""The localcloud server: moto's AWS services with real SageMaker execution layered on.

One WSGI application on one port, served by `localcloud.front` (waitress, with every limit set)
behind the access policy of `localcloud.guard`. Requests for `/_localcloud/*` are ours, SageMaker
Runtime invocations go straight to our router (they are on the hot path, so they skip moto's
Flask dispatch), and everything else passes the API gate (`localcloud.api.gate`: checked against
AWS's API model) to moto, with our SageMaker backend installed in place of moto's (see
`localcloud.extensions`).
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

from localcloud import aws, backplane, clock, persistence, processes, settings
from localcloud.api.gate import ApiGate
from localcloud.api.models import SERVICES
from localcloud.front import FrontLimits, LocalCloudServer, guarded
from localcloud.guard import AccessPolicy

log = logging.getLogger("localcloud")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566

StartResponse = Callable[..., Any]


class LocalCloudApp:
    """Routes a request to our handlers, to moto's management API, or through the API gate to moto."""

    def __init__(self, moto_app: Callable, invocations: Callable, started: float,
                 before: Callable[[str], None] | None = None):
        self.moto_app = moto_app
        self.gated = ApiGate(moto_app, before)
        self.invocations = invocations
        self.started = started
        self.traffic = persistence.Traffic()
        """Requests that may change state: a snapshot holds new ones back while it is taken."""
        self.snapshots: persistence.Snapshots | None = None
        """With a data dir: what keeps the state on disk."""

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localcloud/"):
            return self._own(path, environ.get("REQUEST_METHOD", "GET"), start_response)
        if path.startswith("/endpoints/") and environ.get("REQUEST_METHOD") == "POST" and _is_runtime(environ):
            return self.invocations(environ, start_response)
        with self.traffic.request():
            if path.startswith("/moto-api/"):
                return self.moto_app(environ, start_response)  # reset and friends: not an AWS API
            return self.gated(environ, start_response)

    def _own(self, path: str, method: str, start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_localcloud/health":
            return _json(start_response, "200 OK", {
                "status": "ready",
                "services": sorted(aws.OWN_SERVICES) if aws.backplane() else list(SERVICES),
                "uptime_seconds": round(time.monotonic() - self.started, 3),
                "aws_endpoint": aws.endpoint_url(),
                "backplane": aws.backplane(),
                "persistence": self.snapshots.status() if self.snapshots else None,
            })
        if path == "/_localcloud/snapshot" and method == "POST":
            return self._snapshot(start_response)
        return _json(start_response, "404 Not Found", {"message": f"no such localcloud path: {method} {path}"})

    def _snapshot(self, start_response: StartResponse) -> Iterable[bytes]:
        """Save the state now (before something risky, or to check that all of it can be saved)."""
        if self.snapshots is None:
            return _json(start_response, "409 Conflict", {"message": "localcloud runs without --data-dir: "
                                                                     "it keeps no state to save"})
        try:
            timing = self.snapshots.save()
        except Exception as e:
            log.exception("snapshot on request failed; the previous one is kept")
            return _json(start_response, "500 Internal Server Error",
                         {"message": f"the state could not be saved ({type(e).__name__}: {e}); the previous "
                                     f"snapshot is kept"})
        return _json(start_response, "200 OK", {"snapshot": str(self.snapshots.path), "bytes": timing.bytes,
                                                "seconds": round(timing.capture_seconds + timing.write_seconds, 3)})


def _json(start_response: StartResponse, status: str, document: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _is_runtime(environ: dict) -> bool:
    """True for SageMaker Runtime InvokeEndpoint calls (signed for service `sagemaker`)."""
    path = environ.get("PATH_INFO", "")
    if not path.endswith("/invocations") or path.endswith("/async-invocations"):
        return False
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return "/sagemaker/aws4_request" in auth or not auth


def build_app(data_dir: Path) -> LocalCloudApp:
    """Install our extensions into moto and assemble the WSGI application (without the access policy)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from localcloud import extensions
    from localcloud.sagemaker.invocations import InvocationRouter

    started = time.monotonic()
    extensions.install(data_dir)
    threading.Thread(target=extensions.install_cloudformation, name="install-cloudformation", daemon=True).start()
    return LocalCloudApp(DomainDispatcherApplication(create_backend_app), InvocationRouter(), started,
                         extensions.ready_for)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"localcloud: {name}={raw!r} is not a number") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    limits = FrontLimits()
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("LOCALCLOUD_HOST", DEFAULT_HOST),
                        help="address to bind (default 127.0.0.1; anything else exposes code execution to "
                             "whoever can reach it)")
    parser.add_argument("--port", type=int, default=int(_env_number("LOCALCLOUD_PORT", DEFAULT_PORT)),
                        help="port to listen on (default 4566; 0 picks a free one)")
    parser.add_argument("--data-dir", default=os.environ.get("LOCALCLOUD_DATA_DIR"),
                        help="where the state (a snapshot, restored at start), job folders, model servers and "
                             "logs live (default: a temporary folder removed at exit: nothing persists)")
    parser.add_argument("--snapshot-interval", type=float,
                        default=_env_number("LOCALCLOUD_SNAPSHOT_INTERVAL", 5.0), metavar="SECONDS",
                        help="with --data-dir, how often the state is saved while it changes (default 5; a graceful "
                             "stop always saves; a hard kill loses at most this much)")
    parser.add_argument("--time-scale", type=float, default=_env_number(clock.TIME_SCALE_ENV, 1.0), metavar="N",
                        help="run scheduled time N times faster: alarm periods (a 60 s period lasts 60/N s) and "
                             "monitoring schedules; timestamps stay real (default 1; env LOCALCLOUD_TIME_SCALE)")
    parser.add_argument("--backplane", default=os.environ.get("LOCALCLOUD_BACKPLANE") or None, metavar="URL",
                        help="backplane mode: serve SageMaker and SageMaker Runtime only, and keep everything they "
                             "use (S3, CloudWatch, Logs, SNS, SQS, EventBridge) in another emulator at URL, such as "
                             "LocalStack (env LOCALCLOUD_BACKPLANE)")
    parser.add_argument("--log-level", default=os.environ.get("LOCALCLOUD_LOG_LEVEL", "INFO"))
    parser.add_argument("--ready-file", metavar="PATH",
                        help="write {url, port, pid} as JSON here once listening (how a launcher that asked for "
                             "--port 0 learns the port)")
    parser.add_argument("--allow-origin", action="append", default=_env_list("LOCALCLOUD_ALLOW_ORIGINS"),
                        metavar="ORIGIN", help="let web pages from this origin (scheme://host[:port]) call "
                                               "localcloud; repeatable (env LOCALCLOUD_ALLOW_ORIGINS, comma-separated)")
    parser.add_argument("--allow-host", action="append", default=_env_list("LOCALCLOUD_ALLOW_HOSTS"),
                        metavar="NAME", help="serve requests addressed to this host name besides loopback names; "
                                             "repeatable (env LOCALCLOUD_ALLOW_HOSTS, comma-separated)")
    parser.add_argument("--max-header-kb", type=float,
                        default=_env_number("LOCALCLOUD_MAX_HEADER_KB", limits.max_header_bytes / 1024))
    parser.add_argument("--max-body-mb", type=float,
                        default=_env_number("LOCALCLOUD_MAX_BODY_MB", limits.max_body_bytes / 2**20))
    parser.add_argument("--header-timeout", type=float,
                        default=_env_number("LOCALCLOUD_HEADER_TIMEOUT", limits.header_timeout),
                        help="seconds a client has to send a request's whole header block")
    parser.add_argument("--idle-timeout", type=float,
                        default=_env_number("LOCALCLOUD_IDLE_TIMEOUT", limits.idle_timeout),
                        help="seconds without a byte before a connection (idle or mid-body) is closed")
    parser.add_argument("--threads", type=int, default=int(_env_number("LOCALCLOUD_THREADS", limits.threads)))
    parser.add_argument("--connection-limit", type=int,
                        default=int(_env_number("LOCALCLOUD_CONNECTION_LIMIT", limits.connection_limit)))
    args = parser.parse_args(argv)
    for name in ("max_header_kb", "max_body_mb", "header_timeout", "idle_timeout", "threads", "connection_limit",
                 "snapshot_interval"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    try:
        clock.set_scale(args.time_scale)
    except ValueError as e:
        parser.error(f"--time-scale: {e}")
    if args.backplane is not None:
        try:
            args.backplane = backplane.check_url(args.backplane)
        except ValueError as e:
            parser.error(f"--backplane: {e}")
    return args


def _write_ready_file(path: Path, url: str, port: int) -> None:
    """Atomically: a reader sees no file or the whole document."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"url": url, "port": port, "pid": os.getpid()}))
    partial.replace(path)


def _restore(data_dir: Path, interval: float, traffic: persistence.Traffic) -> persistence.Snapshots:
    """Load the data dir's snapshot, if any, and return the writer that keeps it current."""
    from localcloud import extensions

    path = settings.snapshot_path(data_dir)
    if path.exists():
        extensions.install_cloudformation()  # the snapshot's stacks need it
        started = time.perf_counter()
        try:
            state = persistence.read_snapshot(path)
        except persistence.SnapshotError as e:
            raise SystemExit(str(e)) from None
        persistence.install(state)
        log.info("state restored from %s in %.0f ms", path, (time.perf_counter() - started) * 1000)
    return persistence.Snapshots(path, interval, traffic, extensions.busy)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # AWS managed policies (AdministratorAccess, ...) exist, so templates can attach them (0.1 s, once).
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        # A server has no use for the user's profile, and moto's botocore sessions fail on one it cannot find.
        if os.environ.pop(variable, None) is not None:
            log.info("ignoring %s: localcloud does not use AWS profiles", variable)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        policy = AccessPolicy.build(hosts=[args.host, *args.allow_host], origins=args.allow_origin)
    except ValueError as e:
        raise SystemExit(f"localcloud: --allow-origin: {e}") from None
    limits = FrontLimits(
        max_header_bytes=int(args.max_header_kb * 1024), max_body_bytes=int(args.max_body_mb * 2**20),
        header_timeout=args.header_timeout, idle_timeout=args.idle_timeout, threads=args.threads,
        connection_limit=args.connection_limit)

    keep = args.data_dir is not None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="localcloud-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = LocalCloudServer(lambda environ, start: app(environ, start), args.host, args.port, limits)
    except OSError as e:
        raise SystemExit(f"localcloud: cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    port = server.port
    os.environ["MOTO_PORT"] = str(port)
    connect_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    own_url = f"http://{connect_host}:{port}"
    os.environ[aws.SELF_ENV] = own_url
    if args.backplane:
        os.environ[aws.ENDPOINT_ENV] = args.backplane
        backplane.greet(args.backplane)
    else:
        os.environ.setdefault(aws.ENDPOINT_ENV, own_url)
    inner = build_app(data_dir)
    app = guarded(inner, policy)
    processes.start_lifeline()
    snapshots = None
    if keep:
        snapshots = inner.snapshots = _restore(data_dir, args.snapshot_interval, inner.traffic)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: shutting down", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        _write_ready_file(Path(args.ready_file), f"http://{connect_host}:{port}", port)
    log.info("localcloud ready on http://%s:%s (data in %s)", args.host, port, data_dir)
    try:
        if snapshots is not None:
            snapshots.start()
        server.serve()
    finally:
        from localcloud import extensions

        if snapshots is not None:
            snapshots.close()  # before anything stops: the state as the last request left it
        extensions.shutdown()
        processes.terminate_all()
        processes.stop_lifeline()
        if not keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        log.info("localcloud stopped")
