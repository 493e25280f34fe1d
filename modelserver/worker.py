"""One worker process: uvicorn (httptools, with our limits, and uvloop) serving InferenceApp on a socket.

The listening socket is created by the parent and shared, so N workers accept from one port
(the kernel spreads connections), exactly like gunicorn's pre-fork model.
"""

from __future__ import annotations

import logging
import signal
import socket
import warnings
from typing import Any

import uvicorn

from modelserver.app import InferenceApp
from modelserver.http_protocol import guarded_protocol
from modelserver.invocation import Invoker
from modelserver.settings import Settings
from modelserver.user_code import Hooks

log = logging.getLogger("modelserver")

BACKLOG = 2048


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (IPv4 or IPv6 by the host's form); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def quiet_warnings() -> None:
    """Ignore Python warnings while serving.

    Why: scikit-learn replays the process's whole warning-filter list around every tree of a forest
    on every predict (``sklearn.utils.parallel._FuncWrapper``), so the ~11 filters numpy, scipy and
    pandas install cost ~40 % of a 50-tree forest's single-row predict. Warnings raised per request
    are noise in a server log anyway; warnings raised while the program is imported and its model
    loaded (e.g. an sklearn version mismatch) were already shown by then.
    """
    warnings.resetwarnings()
    warnings.simplefilter("ignore")


def _stop(signum: int, frame: object) -> None:
    log.info("stopped by %s", signal.Signals(signum).name)
    raise SystemExit(0)


def install_stop_handlers() -> None:
    """SIGTERM/SIGINT end the process with status 0, whenever they arrive.

    Before uvicorn runs, they stop start-up at once. While it runs, uvicorn's own handlers drain
    in-flight requests, then restore these and re-raise the signal, which lands here.
    """
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stop)


def build_app(hooks: Hooks, model: Any, settings: Settings) -> InferenceApp:
    invoker = Invoker(hooks, model, settings)
    return InferenceApp(invoker, max_payload_bytes=settings.max_payload_bytes, workers=settings.workers)


def run(sock: socket.socket, hooks: Hooks, model: Any, settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests get up to min(timeout, 30 s) to finish."""
    app = build_app(hooks, model, settings)
    config = uvicorn.Config(
        app,
        loop="auto",
        http=guarded_protocol(header_timeout=settings.header_timeout, max_header_bytes=settings.max_header_bytes,
                              max_body_bytes=settings.max_payload_bytes),
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=settings.log_level if settings.log_level == "debug" else "warning",
        server_header=False,
        proxy_headers=False,  # SageMaker's front end is not a proxy whose headers we trust
        timeout_keep_alive=75,
        timeout_graceful_shutdown=int(min(settings.timeout, 30)) or 1,
        backlog=BACKLOG,
    )
    install_stop_handlers()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.invoker.close()
