"""Errors that become HTTP responses, and the rule that maps a hook's exception to a status.

Why a rule at all: SageMaker's scikit-learn container answers 500 for almost anything a user hook
raises, which tells a caller nothing. Callers deserve a 4xx when *their request* was at fault, and
the operator deserves a 5xx only when the model or its code is. The rule is deliberately small so
it can be documented in one table (see README.md):

- an exception carrying an integer ``status_code`` between 400 and 599 (ours below, and the
  SageMaker inference toolkit's ``errors.GenericInferenceToolkitError``) keeps that status;
- ``ValueError``/``TypeError`` raised by ``input_fn`` (decoding the request) -> 400;
- anything else -> 500 with a one-line message; the traceback goes to the server log.
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 500


class InvocationError(Exception):
    """A request that ends with a non-200 answer; ``str(self)`` is the body the caller reads."""

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class BadRequest(InvocationError):
    status_code = 400


class PayloadTooLarge(InvocationError):
    status_code = 413


class UnsupportedMediaType(InvocationError):
    status_code = 415


class NotAcceptable(InvocationError):
    status_code = 406


class InvocationTimeout(InvocationError):
    status_code = 504


class UserCodeError(Exception):
    """The user's program could not be imported, is inconsistent, or its model_fn failed.

    Raised at start-up only; the CLI prints it as the last line on stderr and exits non-zero so a
    supervisor (SageMaker, our local emulator) can show it as the endpoint's failure reason.
    """


def short(exc: BaseException) -> str:
    """One line naming the exception type and its message, cut to a readable length."""
    text = str(exc).strip() or "(no message)"
    line = f"{type(exc).__name__}: {text}"
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 3] + "..."


def from_hook(exc: BaseException, hook: str) -> InvocationError:
    """Map an exception raised by a user hook to the response the caller gets (rule above)."""
    if isinstance(exc, InvocationError):
        return exc
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        message = str(exc).strip() or f"{hook} rejected the request"
        return InvocationError(message, status)
    if hook == "input_fn" and isinstance(exc, (ValueError, TypeError)):
        return BadRequest(f"bad request: {str(exc).strip() or type(exc).__name__}")
    return InvocationError(f"{hook} failed: {short(exc)}", 500)
