"""``python -m modelserver serve``: start-up order and exit codes.

Start-up is ordered so failures are cheap and clear: settings are checked first, thread-pool
variables are set before numpy is imported, the program is imported and ``model_fn`` run BEFORE
the port is opened (so nobody sees a healthy /ping for a server without a model), and any failure
ends the process with one ``modelserver: error: ...`` line as the LAST line on stderr, which is
what SageMaker-like supervisors show as the failure reason.

Exit codes: 0 stopped normally, 1 cannot listen or workers keep dying, 2 bad settings or
arguments, 3 the user's program or its model_fn failed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from modelserver.settings import ENVIRONMENT, SettingsError, resolve

EXIT_RUNTIME, EXIT_SETTINGS, EXIT_USER_CODE = 1, 2, 3
# One BLAS/OpenMP thread per worker: micro-batched predictions are small, and workers (not
# threads) are how this server uses more cores. An explicit value in the environment wins.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_HELP = {
    "host": "address to listen on (the container image sets 0.0.0.0)",
    "port": "TCP port; 0 picks a free one",
    "workers": "worker processes sharing the port; 'auto' = one per CPU",
    "timeout": "seconds one prediction may take before the caller gets 504",
    "program": "the inference script (.py) inside the submit directory",
    "submit_dir": "local directory holding the program",
    "model_dir": "directory handed to model_fn",
    "default_accept": "response type when the request has no Accept or */*",
    "max_payload_mb": "request body limit in MB (larger bodies, and chunks declaring more, get 413)",
    "header_timeout": "seconds a client has to send a request's header block (else 408, connection closed)",
    "max_header_kb": "header block limit in KB (larger ones get 431)",
    "batching": "auto: merge concurrent requests into one predict when safe; off: never",
    "max_batch_rows": "most rows one merged predict may hold",
    "serving_warnings": "ignore: silence Python warnings after the model is loaded; keep: leave them",
    "log_level": "debug, info, warning or error",
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m modelserver", description="SageMaker-compatible model server")
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="load the model and serve /ping and /invocations")
    for name, variable, default in ENVIRONMENT:
        flag = "--warnings" if name == "serving_warnings" else f"--{name.replace('_', '-')}"
        serve.add_argument(flag, dest=name, default=None, help=f"{_HELP[name]} [${variable}, default {default}]")
    return root


def _fail(message: str, code: int) -> int:
    sys.stderr.flush()
    print(f"modelserver: error: {message}", file=sys.stderr, flush=True)
    return code


def serve(options: dict[str, object]) -> int:
    try:
        settings = resolve(options)
    except SettingsError as exc:
        return _fail(str(exc), EXIT_SETTINGS)
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Heavy imports (numpy, the user's program) only after the thread variables are set.
    from modelserver import supervisor, worker
    from modelserver.errors import UserCodeError
    from modelserver.user_code import load_hooks, load_model

    log = logging.getLogger("modelserver")
    try:
        hooks = load_hooks(settings.submit_dir, settings.program)
        model = load_model(hooks, settings.model_dir)
    except UserCodeError as exc:
        return _fail(str(exc), EXIT_USER_CODE)
    try:
        sock = worker.listen(settings.host, settings.port)
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", EXIT_RUNTIME)
    if not settings.keep_warnings and not sys.warnoptions:
        worker.quiet_warnings()
    # Everything loaded so far (libraries, the model) lives as long as the process: keep it out of
    # the cyclic GC's full collections (p99 latency) and out of forked workers' dirtied pages.
    gc.collect()
    gc.freeze()
    host, port = sock.getsockname()[:2]
    log.info(
        "serving %s on http://%s:%d with %d worker(s), batching %s",
        hooks.origin,
        host,
        port,
        settings.workers,
        "on" if settings.batching and hooks.row_wise_predict else "off",
    )
    if settings.workers == 1:
        try:
            worker.run(sock, hooks, model, settings)
        except SystemExit as exc:  # a stop signal (see worker.install_stop_handlers)
            return exc.code if isinstance(exc.code, int) else 0
        return 0
    code = supervisor.supervise(sock, hooks, model, settings)
    return code if code == 0 else _fail("workers keep dying; see the log above", code)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        options = {name: getattr(args, name) for name, _, _ in ENVIRONMENT}
        return serve(options)
    return EXIT_SETTINGS
