"""Inside a function's process: load the handler, call it once with the event, write its answer.

Run by runtime.py as `python -I bootstrap.py EVENT RESULT DEADLINE_MS SDK_DIR`, with the
function's code as the working directory; only the standard library is used here, since this
runs on whichever Python the function's runtime names. Errors are answered as Lambda's Python
runtime answers them (errorMessage, errorType, stackTrace; Runtime.ImportModuleError and
Runtime.HandlerNotFound for a handler that cannot be loaded) and logged as it logs them.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class Context:
    """What a handler's `context` argument offers on Lambda."""

    def __init__(self, deadline_ms: float):
        env = os.environ
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = env["LOCALCLOUD_FUNCTION_ARN"]
        self.memory_limit_in_mb = env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = env["LOCALCLOUD_REQUEST_ID"]
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = os.environ["LOCALCLOUD_REQUEST_ID"]
        return True


def _error(kind: str, message: str, stack: list) -> dict:
    return {"errorMessage": message, "errorType": kind, "requestId": os.environ["LOCALCLOUD_REQUEST_ID"],
            "stackTrace": stack}


def _handler():
    spec = os.environ["_HANDLER"]
    module_name, _, name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as e:  # reported as Lambda reports it
        raise LoadError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from None
    handler = getattr(module, name, None)
    if not callable(handler):
        raise LoadError("Runtime.HandlerNotFound", f"Handler '{name}' missing on module '{module_name}'")
    return handler


class LoadError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def main() -> None:
    event_path, result_path, deadline_ms, sdk = sys.argv[1:5]
    sys.path[:0] = [os.getcwd(), sdk]  # the function's code first: it may bring its own boto3
    handler_log = logging.StreamHandler(sys.stdout)
    handler_log.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t"
                                               "%(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler_log.addFilter(_RequestId())
    logging.Formatter.converter = time.gmtime
    logging.getLogger().addHandler(handler_log)
    failed = True
    try:
        handler = _handler()
        with open(event_path, "rb") as f:
            event = json.loads(f.read() or b"null")
        result = handler(event, Context(float(deadline_ms)))
        try:
            answer = json.dumps(result)
            failed = False
        except (TypeError, ValueError) as e:
            answer = json.dumps(_error("Runtime.MarshalError", f"Unable to marshal response: {e}", []))
            print(f"[ERROR] Runtime.MarshalError: Unable to marshal response: {e}", flush=True)
    except LoadError as e:
        answer = json.dumps(_error(e.kind, str(e), []))
        print(f"[ERROR] {e.kind}: {e}", flush=True)
    except Exception as e:  # the handler's error is the invocation's answer
        stack = traceback.format_tb(e.__traceback__)[1:]
        answer = json.dumps(_error(type(e).__name__, str(e), stack))
        print(f"[ERROR] {type(e).__name__}: {e}\nTraceback (most recent call last):\n{''.join(stack)}", end="",
              flush=True)
    sys.stdout.flush()
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump({"failed": failed, "payload": answer}, f)


if __name__ == "__main__":
    main()
