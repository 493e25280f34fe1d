"""Micro-batching under real concurrency: every caller gets exactly its own rows back.

The model sleeps 20 ms per predict so concurrent requests queue behind it and get merged, and it
answers, per row, [the row's id, the number of rows in the predict call], so each response shows
both whose rows it holds and whether they were predicted in a merged batch.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from serving_helpers import ModelServer, wait_until, write_program

RECORDER = textwrap.dedent(
    """
    import time

    import numpy as np


    class Recorder:
        def __init__(self, flag):
            self.flag = flag

        def predict(self, X):
            X = np.asarray(X, dtype=float)
            if X[0, 0] == 7777:
                open(self.flag, "w").close()  # tells the test the model thread is now busy
                time.sleep(0.5)
            time.sleep(0.02)
            if (X[:, 0] < 0).any():
                raise RuntimeError("negative id in the batch")
            return np.column_stack([X[:, 0], np.full(len(X), len(X), dtype=float)])


    def model_fn(model_dir):
        return Recorder(model_dir + "/blocking")


    def input_fn(body, content_type):
        text = body if isinstance(body, str) else body.decode()
        rows = [[float(v) for v in line.split(",")] for line in text.strip().splitlines()]
        if content_type == "application/x-frame":
            import pandas as pd

            return pd.DataFrame(rows, columns=[f"c{i}" for i in range(len(rows[0]))])
        return np.array(rows)
    """
)

SUMMER = textwrap.dedent(
    """
    import time

    import numpy as np


    class WholeBatchSum:
        # Not row-wise: one number for the whole input. Safe alone, wrong when merged.
        def predict(self, X):
            time.sleep(0.02)
            return np.array([X.sum()])


    def model_fn(model_dir):
        return WholeBatchSum()
    """
)


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    code = tmp_path_factory.mktemp("recorder")
    write_program(code, "recorder.py", RECORDER)
    server = ModelServer("recorder.py", code, code, code)
    yield server
    server.stop()


def _rows(ids: list[int], width: int) -> str:
    return "\n".join(",".join([str(i)] + ["0.5"] * (width - 1)) for i in ids)


def _call(server: ModelServer, ids: list[int], width: int, content_type: str = "text/csv") -> tuple[int, list, str]:
    answer = server.invoke(_rows(ids, width), content_type, "application/json")
    return answer.status, json.loads(answer.body) if answer.status == 200 else [], answer.text


def test_concurrent_requests_get_exactly_their_own_rows(recorder: ModelServer) -> None:
    jobs = []
    for n in range(96):
        size = 1 + n % 3
        ids = [n * 10 + k for k in range(size)]
        width = 3 if n % 4 else 5  # two widths in flight: they must never be merged together
        content_type = "application/x-frame" if n % 5 == 0 else "text/csv"  # DataFrames batch too
        jobs.append((ids, width, content_type))
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda job: _call(recorder, *job), jobs))
    merged = 0
    for (ids, _, _), (status, rows, text) in zip(jobs, results, strict=True):
        assert status == 200, text
        assert [int(row[0]) for row in rows] == ids
        batch_rows = {row[1] for row in rows}
        assert len(batch_rows) == 1  # a request's rows are never split across predict calls
        merged += batch_rows.pop() > len(ids)
    assert merged > len(jobs) // 4, f"only {merged} of {len(jobs)} requests were predicted in merged batches"


def test_a_failing_request_in_a_batch_fails_alone(recorder: ModelServer) -> None:
    jobs = [[n] for n in range(1, 16)] + [[-1]]
    flag = recorder.model_dir / "blocking"
    with ThreadPoolExecutor(17) as pool:
        blocker = pool.submit(_call, recorder, [7777], 3)  # holds the model thread for 0.5 s ...
        assert wait_until(flag.exists, 10)
        results = list(pool.map(lambda ids: _call(recorder, ids, 3), jobs))  # ... so these queue as one batch
        assert blocker.result()[0] == 200
    for ids, (status, rows, text) in zip(jobs, results, strict=True):
        if ids == [-1]:
            assert status == 500
            assert text.strip() == "predict_fn failed: RuntimeError: negative id in the batch"
        else:
            assert status == 200, text
            assert [int(row[0]) for row in rows] == ids


def test_non_row_wise_model_is_detected_and_batching_turns_off(tmp_path) -> None:
    write_program(tmp_path, "summer.py", SUMMER)
    server = ModelServer("summer.py", tmp_path, tmp_path, tmp_path)
    try:
        values = [[float(n), 1.0] for n in range(24)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda row: server.invoke(json.dumps([row]), "application/json"), values))
        for row, answer in zip(values, answers, strict=True):
            assert answer.status == 200, answer.text
            assert json.loads(answer.body) == [sum(row)]  # its own sum, never a merged one
        assert "micro-batching is now off" in server.log()
    finally:
        server.stop()
