"""MicroBatcher scheduling, in-process and deterministic (a gate controls when predict returns)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from modelserver.batching import MicroBatcher, batch_key


class GatedModel:
    """predict blocks until the test opens the gate; records the size of every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Semaphore(0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.gate.acquire()
        self.calls.append(len(X))
        return X[:, 0] * 10


def row(i: int) -> np.ndarray:
    return np.array([[float(i), 0.0]])


async def settle(predicate, tries: int = 2000) -> None:
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


def test_a_lone_request_runs_at_once_and_a_crowd_lingers_into_one_batch() -> None:
    model = GatedModel()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(model.predict, pool, enabled=True, max_rows=100)
            first = batcher.submit(row(0))  # idle server: launched alone, immediately
            crowd = [batcher.submit(row(i)) for i in range(1, 8)]  # queue behind it
            model.gate.release()
            assert (await first).tolist() == [0.0]
            await settle(lambda: len(model.calls) == 1 and batcher._running)
            model.gate.release()  # the 7 queued requests run as one batch
            assert [(await f).tolist() for f in crowd] == [[i * 10.0] for i in range(1, 8)]
            assert model.calls == [1, 7]

            # 8 were in flight at once, so 4 arriving now wait briefly for the other 4 ...
            second = [batcher.submit(row(i)) for i in range(10, 14)]
            await asyncio.sleep(0)
            assert not batcher._running and batcher._timer is not None
            second += [batcher.submit(row(i)) for i in range(14, 18)]  # ... and launch once all 8 are there
            assert batcher._running and batcher._timer is None
            model.gate.release()
            assert [(await f).tolist() for f in second] == [[i * 10.0] for i in range(10, 18)]
            assert model.calls == [1, 7, 8]

    asyncio.run(scenario())


def test_linger_is_bounded_when_the_crowd_does_not_come_back() -> None:
    model = GatedModel()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(model.predict, pool, enabled=True, max_rows=100)
            futures = [batcher.submit(row(i)) for i in range(6)]
            for _ in range(2):
                model.gate.release()
            await asyncio.gather(*futures)
            lone = batcher.submit(row(42))  # expected crowd is ~6: lingers, then runs alone
            model.gate.release()
            assert (await asyncio.wait_for(lone, 1)).tolist() == [420.0]
            assert model.calls[-1] == 1

    asyncio.run(scenario())


def test_different_widths_never_share_a_batch() -> None:
    model = GatedModel()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(model.predict, pool, enabled=True, max_rows=100)
            blocker = batcher.submit(row(0))
            narrow = [batcher.submit(row(i)) for i in (1, 2)]
            wide = [batcher.submit(np.array([[float(i), 0.0, 0.0]])) for i in (3, 4)]
            for _ in range(3):
                model.gate.release()
            results = await asyncio.gather(blocker, *narrow, *wide)
            assert [r.tolist() for r in results] == [[0.0], [10.0], [20.0], [30.0], [40.0]]
            assert model.calls == [1, 2, 2]

    asyncio.run(scenario())


def test_batch_keys() -> None:
    assert batch_key(np.zeros((2, 3))) == batch_key(np.ones((5, 3)))
    assert batch_key(np.zeros((2, 3))) != batch_key(np.zeros((2, 3), dtype=np.float32))
    assert batch_key(np.zeros(3)) is None and batch_key(np.zeros((0, 3))) is None
    assert batch_key([[1.0]]) is None
    frame = pd.DataFrame({"a": [1.0], "b": [2]})
    assert batch_key(frame) == batch_key(pd.DataFrame({"a": [3.0, 4.0], "b": [5, 6]}))
    assert batch_key(frame) != batch_key(pd.DataFrame({"b": [2], "a": [1.0]}))


class ThreadRecordingModel:
    """Records which thread ran each predict, and its batch size."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.calls.append((threading.current_thread().name, len(X)))
        return X[:, 0] * 10


def test_a_lone_client_is_served_on_the_loop_once_predictions_are_known_to_be_quick() -> None:
    model = ThreadRecordingModel()

    async def scenario() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="model") as pool:
            batcher = MicroBatcher(model.predict, pool, enabled=True, max_rows=100)
            assert (await batcher.submit(row(1))).tolist() == [10.0]  # no history yet: the model thread
            assert (await batcher.submit(row(2))).tolist() == [20.0]  # quick and alone: on the loop
            loop_thread = threading.current_thread().name
            assert [name for name, _ in model.calls] == [model.calls[0][0], loop_thread]
            assert model.calls[0][0].startswith("model")

            # two at once: a crowd is forming, so they go to the model thread together
            both = [batcher.submit(row(3)), batcher.submit(row(4))]
            assert [(await f).tolist() for f in both] == [[30.0], [40.0]]
            assert model.calls[-1][0].startswith("model") and model.calls[-1][1] == 2

    asyncio.run(scenario())
