"""One invocation: input_fn -> predict_fn (micro-batched, on the model thread) -> output_fn.

This is the SageMaker scikit-learn container's transformer, made asynchronous:

- the request's Content-Type defaults to application/json; an absent or ``*/*`` Accept becomes
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``;
- user hooks receive the body as str for text/csv and application/json and as bytes otherwise
  (the container's rule); our default input_fn takes the bytes as they are;
- ``output_fn`` may return bytes, str, or ``(body, content_type)``;
- ``transform_fn`` replaces the three and runs whole on the model thread.

``input_fn`` and ``output_fn`` run on the event loop: they are cheap for sane payloads, and a
thread hop would cost more than they do. Only prediction is subject to the invocation timeout.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from modelserver.batching import MicroBatcher
from modelserver.default_handlers import ENCODERS, choose_encoding
from modelserver.errors import BadRequest, InvocationError, InvocationTimeout, from_hook
from modelserver.media_types import ANY, JSON, UTF8_TYPES, media_type
from modelserver.settings import Settings
from modelserver.user_code import Hooks

log = logging.getLogger("modelserver")


def _response(result: Any, accept: str, hook: str) -> tuple[bytes, str]:
    """Normalise what a user's output_fn/transform_fn returned to (body, content type)."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        body, content_type = result
    else:
        body, content_type = result, accept
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise InvocationError(
            f"{hook} returned {type(body).__name__}; it must return bytes, str or (body, content_type)"
        )
    if "," in content_type or "*" in content_type or not content_type.isprintable():
        content_type = "application/octet-stream"  # an Accept list (or garbage) is not a Content-Type
    return body, content_type


class Invoker:
    """Runs requests through one loaded program; owns the model thread and the batcher."""

    def __init__(self, hooks: Hooks, model: Any, settings: Settings):
        self.hooks = hooks
        self.model = model
        self.timeout = settings.timeout
        self.default_accept = settings.default_accept
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._default_input = hooks.is_default("input_fn")
        self._default_predict = hooks.is_default("predict_fn")
        self._default_output = hooks.is_default("output_fn")
        width = getattr(model, "n_features_in_", None) if self._default_predict else None
        self._width = width if isinstance(width, int) else None
        predict_fn, transform_fn = hooks.predict_fn, hooks.transform_fn

        def predict(data: Any) -> Any:
            return predict_fn(data, model)

        def transform(request: tuple[Any, str, str]) -> Any:
            assert transform_fn is not None
            return transform_fn(model, *request)

        # transform_fn goes through the batcher too (never merged: its input is a tuple), so it
        # shares the model thread and /ping sees a stuck transform_fn like a stuck predict_fn.

        self.batcher = MicroBatcher(
            predict if transform_fn is None else transform,
            self.executor,
            enabled=settings.batching and hooks.row_wise_predict,
            max_rows=settings.max_batch_rows,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, str]:
        """The response body and its content type, or an InvocationError carrying the status."""
        content_type = content_type or JSON
        if not accept or accept == ANY:
            accept = self.default_accept
        if self.hooks.transform_fn is not None:
            return await self._transform(body, content_type, accept)
        chosen = choose_encoding(accept) if self._default_output else ""  # a 406 before any work
        if self._default_input:
            data = self.hooks.input_fn(body, content_type)
        else:
            try:
                data = self.hooks.input_fn(self._user_body(body, content_type), content_type)
            except Exception as exc:
                raise self._failure(exc, "input_fn") from exc
        width = self._width
        if width is not None and isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] != width:
            raise BadRequest(f"each row needs {width} values (the model's features), got {data.shape[1]}")
        prediction = await self._predict(data)
        if self._default_output:
            try:
                return ENCODERS[chosen](prediction), chosen
            except InvocationError:
                raise
            except Exception as exc:
                raise self._failure(exc, "output_fn") from exc
        try:
            result = self.hooks.output_fn(prediction, accept)
        except Exception as exc:
            raise self._failure(exc, "output_fn") from exc
        return _response(result, accept, "output_fn")

    async def _predict(self, data: Any) -> Any:
        future = self.batcher.submit(data)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise InvocationTimeout(f"the model did not answer within {self.timeout:g} s") from None
        except Exception as exc:
            if self._default_predict and isinstance(exc, ValueError):
                # model.predict raises ValueError for input it cannot use (shape, NaN, dtype).
                raise BadRequest(f"the model rejected the input: {exc}") from exc
            raise self._failure(exc, "predict_fn") from exc

    async def _transform(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        future = self.batcher.submit((self._user_body(body, content_type), content_type, accept))
        try:
            result = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise InvocationTimeout(f"transform_fn did not answer within {self.timeout:g} s") from None
        except Exception as exc:
            raise self._failure(exc, "transform_fn") from exc
        return _response(result, accept, "transform_fn")

    @staticmethod
    def _user_body(body: bytes, content_type: str) -> bytes | str:
        if media_type(content_type.encode("latin-1")) not in UTF8_TYPES:
            return body
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None

    def _failure(self, exc: BaseException, hook: str) -> InvocationError:
        error = from_hook(exc, hook)
        if error.status_code >= 500:
            log.error("%s in %s failed", hook, self.hooks.origin, exc_info=exc)
        else:
            log.debug("%s rejected a request: %s", hook, error)
        return error
