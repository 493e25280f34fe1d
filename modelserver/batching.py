"""Micro-batching: concurrent requests share one ``predict_fn`` call.

Why: a scikit-learn ``predict`` has a large fixed cost (a 50-tree forest spends ~1.7 ms on one row
and ~4 ms on 1,000), so under concurrency the server is fastest when it predicts many requests'
rows at once. A request that finds the server idle runs alone at once (no added latency at
concurrency 1); the requests that arrive while a prediction runs form the next batch; and when
fewer are queued than were recently in flight, the batcher lingers briefly for the rest (see
``MicroBatcher._schedule``). Predictions run on ONE model thread per worker process, so user hooks
never run concurrently with themselves (as in SageMaker's one-request-per-worker servers).

Safety: requests are merged only when the program's predict is row-wise (the default
``model.predict``, or a program that sets ``ROW_WISE_PREDICT = True``), the decoded inputs are
2-D numpy arrays (same width and dtype) or DataFrames (same columns and dtypes), and the
prediction has exactly one row per input row. If a merged prediction fails or has the wrong
length, each request is predicted alone, so a bad request only fails itself; a wrong length also
switches batching off for the process (logged once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("modelserver")

LINGER_FRACTION = 0.5  # of the last predict's duration; see MicroBatcher._schedule
MAX_LINGER_SECONDS = 0.002
INLINE_CROWD = 1.5  # predict on the event loop only while requests have recently come one at a time,
INLINE_MAX_ROWS = 1024  # for inputs this small,
INLINE_MAX_SECONDS = 0.010  # and when the last prediction was this quick (the loop is held meanwhile)
EXPECTED_DECAY = 0.95  # per batch, so a crowd that left stops being waited for within ~30 batches


def batch_key(data: Any) -> Hashable | None:
    """What two inputs must share to be stacked; None when the input cannot be batched."""
    if isinstance(data, np.ndarray):
        if data.ndim == 2 and data.shape[0] > 0:
            return ("array", data.shape[1], data.dtype.str)
        return None
    kind = type(data)
    if kind.__name__ == "DataFrame" and kind.__module__.startswith("pandas") and len(data) > 0:
        return ("frame", tuple(data.columns), tuple(map(str, data.dtypes)))
    return None


def _row_count(prediction: Any) -> int | None:
    if isinstance(prediction, np.ndarray):
        return prediction.shape[0] if prediction.ndim >= 1 else None
    if isinstance(prediction, (list, tuple)) or hasattr(prediction, "iloc"):
        return len(prediction)
    return None


def _rows(prediction: Any, start: int, stop: int) -> Any:
    if hasattr(prediction, "iloc"):
        return prediction.iloc[start:stop]
    return prediction[start:stop]


def _stack(inputs: list[Any]) -> Any:
    if isinstance(inputs[0], np.ndarray):
        return np.concatenate(inputs)
    import pandas as pd

    return pd.concat(inputs, ignore_index=True)


@dataclass
class _Item:
    __slots__ = ("data", "future", "key", "rows")  # dataclass(slots=True) needs 3.10; the 1.2-1 image has 3.9

    data: Any
    key: Hashable | None
    rows: int
    future: asyncio.Future[Any]


class MicroBatcher:
    """Queues decoded inputs and feeds them to ``predict`` on the model thread, merged when safe."""

    def __init__(
        self,
        predict: Callable[[Any], Any],
        executor: Executor,
        *,
        enabled: bool,
        max_rows: int,
        linger: float = LINGER_FRACTION,
    ):
        self._predict = predict
        self._executor = executor
        self.enabled = enabled
        self.max_rows = max_rows
        self._linger = linger
        self._pending: deque[_Item] = deque()
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = 0  # submitted and not answered yet
        self._expected = 1.0  # decaying peak of _in_flight: how many requests a batch usually finds
        self._last_predict = 0.0
        self.busy_since: float | None = None
        self.batches = 0
        self.batched_requests = 0

    def submit(self, data: Any) -> asyncio.Future[Any]:
        """A future for this input's own prediction (its rows only)."""
        loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        key = batch_key(data) if self.enabled else None
        self._pending.append(_Item(data, key, len(data) if key is not None else 0, future))
        self._in_flight += 1
        if self._in_flight > self._expected:
            self._expected = self._in_flight
        if not self._running:
            self._schedule()
        return future

    def stuck_for(self) -> float:
        """Seconds the current prediction has been running (0 when idle)."""
        return 0.0 if self.busy_since is None else time.monotonic() - self.busy_since

    def _schedule(self) -> None:
        """Launch now, or linger briefly while the rest of a known crowd is still arriving.

        Without this, N closed-loop clients split into two cohorts that alternate (one waits
        while the other's batch runs), so batches hold N/2 requests. When fewer requests are
        pending than usually are in flight, wait up to half the last predict's duration (at most
        2 ms) for the others; launch as soon as they are all there. A lone client never waits.
        """
        pending = self._pending
        if (
            len(pending) >= self._expected
            or self._linger <= 0
            or not self.enabled
            or pending[0].key is None
            or self._last_predict <= 0
        ):
            self._launch()
        elif self._timer is None:
            assert self._loop is not None
            delay = min(MAX_LINGER_SECONDS, self._linger * self._last_predict)
            self._timer = self._loop.call_later(delay, self._linger_over)

    def _linger_over(self) -> None:
        self._timer = None
        if not self._running:
            self._launch()

    def _launch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = self._pending
        while pending and pending[0].future.done():  # callers that timed out
            pending.popleft()
            self._in_flight -= 1
        if not pending:
            return
        first = pending.popleft()
        group = [first]
        if first.key is not None and pending and self.enabled:
            rows = first.rows
            kept: deque[_Item] = deque()
            while pending and rows < self.max_rows:
                item = pending.popleft()
                if item.future.done():
                    self._in_flight -= 1
                    continue
                if item.key == first.key and rows + item.rows <= self.max_rows:
                    group.append(item)
                    rows += item.rows
                else:
                    kept.append(item)
            kept.extend(pending)
            self._pending = kept
        self._running = True
        self.busy_since = time.monotonic()
        assert self._loop is not None
        if (len(group) == 1 and self._expected < INLINE_CROWD and 0 < first.rows <= INLINE_MAX_ROWS
                and 0 < self._last_predict < INLINE_MAX_SECONDS):
            self._loop.call_soon(self._inline, first)
            return
        self._threaded(group)

    def _threaded(self, group: list[_Item]) -> None:
        assert self._loop is not None
        done = self._loop.run_in_executor(self._executor, self._run, [item.data for item in group])
        done.add_done_callback(lambda outcome: self._finish(group, outcome))

    def _inline(self, item: _Item) -> None:
        """A lone client's small request, predicted on the event loop itself.

        At concurrency 1 the two thread hand-offs are a visible share of a ~2 ms request. This
        runs one loop iteration after the request arrived: if others arrived meanwhile, a crowd
        is forming, so it goes to the model thread with them (batched) instead, and never blocks
        the loop while other requests wait. Only small inputs of a recently lone client qualify,
        so the loop is never held for long.
        """
        if self._pending:
            group = [item]
            while self._pending and self._pending[0].key == item.key and len(group) < self.max_rows:
                group.append(self._pending.popleft())
            self._threaded(group)
            return
        assert self._loop is not None
        outcome: asyncio.Future[list[tuple[bool, Any]]] = self._loop.create_future()
        outcome.set_result([self._one(item.data)] if not item.future.done() else [(False, TimeoutError())])
        self._finish([item], outcome)

    def _finish(self, group: list[_Item], outcome: asyncio.Future[list[tuple[bool, Any]]]) -> None:
        self._running = False
        if self.busy_since is not None:
            self._last_predict = time.monotonic() - self.busy_since
        self.busy_since = None
        self._in_flight -= len(group)
        self._expected = max(1.0, self._expected * EXPECTED_DECAY)
        try:
            results = outcome.result()
        except BaseException as exc:  # the executor itself failed (e.g. shut down)
            results = [(False, exc)] * len(group)
        assert len(results) == len(group)  # zip(strict=True) needs 3.10; the 1.2-1 image has 3.9
        for item, (ok, value) in zip(group, results):  # noqa: B905
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)
        if self._pending:
            self._schedule()

    def _run(self, inputs: list[Any]) -> list[tuple[bool, Any]]:
        """On the model thread: one merged prediction, or one per input when merging is unsafe."""
        if len(inputs) == 1:
            return [self._one(inputs[0])]
        self.batches += 1
        self.batched_requests += len(inputs)
        try:
            prediction = self._predict(_stack(inputs))
        except Exception:
            return [self._one(data) for data in inputs]  # find the culprit; the others still succeed
        total = sum(len(data) for data in inputs)
        count = _row_count(prediction)
        if count != total:
            if self.enabled:
                self.enabled = False
                log.warning("predict_fn returned %s rows for %d input rows; micro-batching is now off", count, total)
            return [self._one(data) for data in inputs]
        out, start = [], 0
        for data in inputs:
            stop = start + len(data)
            out.append((True, _rows(prediction, start, stop)))
            start = stop
        return out

    def _one(self, data: Any) -> tuple[bool, Any]:
        try:
            return True, self._predict(data)
        except Exception as exc:
            return False, exc
