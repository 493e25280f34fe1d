"""The model server's HTTP limits: header deadline, header size, declared chunk size; framing still right.

Regression tests for the hardening issue's model-server findings: 300 half-sent connections held
open, 4 MB of headers accepted, and a declared chunk of 0x7fffffffffffffff waited on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_helpers import ModelServer, wait_until, write_program
from support import closed_by_peer, exchange, half_sent

from modelserver.http_protocol import ChunkTooLarge, ChunkTracker

MODEL_FN_ONLY = """
import joblib, os
def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, rf_model) -> Iterator[ModelServer]:
    code = tmp_path_factory.mktemp("limited-code")
    write_program(code, "serve.py", MODEL_FN_ONLY)
    server = ModelServer("serve.py", code, rf_model.directory, code,
                         extra=["--header-timeout", "1", "--max-header-kb", "8"])
    yield server
    server.stop()




def _statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def _csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(map(repr, row)) for row in rows.tolist()).encode()


def test_half_sent_header_blocks_are_closed_after_the_deadline(limited: ModelServer, rf_model) -> None:
    held = half_sent(limited.port, 300, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n")
    try:
        assert limited.invoke(_csv(rf_model.rows[:1])).status == 200  # still serving meanwhile
        assert wait_until(lambda: all(closed_by_peer(s) for s in held), 10), \
            "half-sent connections were still open 10 s after a 1 s deadline"
    finally:
        for sock in held:
            sock.close()
    assert limited.healthy()


def test_a_header_block_sent_slowly_gets_408(limited: ModelServer) -> None:
    answer, seconds = exchange(limited.port, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, pause=0.05)
    assert _statuses(answer) == [408]
    assert seconds < 5


def test_oversize_headers_get_431_at_once(limited: ModelServer) -> None:
    block = b"POST /invocations HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * (4 * 1024 * 1024) + b"\r\n\r\n"
    answer, seconds = exchange(limited.port, block)
    assert _statuses(answer) == [431]
    assert seconds < 5
    many = b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n"
    assert _statuses(exchange(limited.port, many)[0]) == [431]
    assert limited.healthy()


@pytest.mark.parametrize("size", [b"7fffffffffffffff", b"ffffffff", b"700000"])
def test_a_chunk_declaring_more_than_the_payload_limit_gets_413_at_once(limited: ModelServer, size: bytes) -> None:
    request = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
               + size + b"\r\n1,2,3")
    answer, seconds = exchange(limited.port, request)
    assert _statuses(answer) == [413]
    assert seconds < 5
    assert limited.healthy()


def test_chunked_bodies_still_work_split_anywhere(limited: ModelServer, rf_model) -> None:
    body = _csv(rf_model.rows[:3])
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:30], body[30:]))
    request = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\nX-Trailer: t\r\n\r\n")
    expected = rf_model.predict(rf_model.rows[:3]).tolist()
    for pause in (0.0, 0.001):
        answer, _ = exchange(limited.port, request, pause=pause)
        assert _statuses(answer) == [200], answer[:300]
        values = [float(v) for v in answer.split(b"\r\n\r\n", 1)[1].decode().split()]
        assert values == expected


def test_pipelined_requests_are_each_answered(limited: ModelServer, rf_model) -> None:
    body = _csv(rf_model.rows[:1])
    one = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body), body)
    chunked = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n"
               b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    last = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer, _ = exchange(limited.port, one + chunked + one + last)
    assert _statuses(answer) == [200, 200, 200, 200]


# ------------------------------------------------------------------------------------------ the tracker alone


@settings(max_examples=300, derandomize=True, database=None)
@given(sizes=st.lists(st.integers(0, 300), max_size=8), cuts=st.lists(st.integers(1, 40), max_size=20),
       trailer=st.booleans(), after=st.binary(max_size=20))
def test_the_chunk_tracker_finds_the_end_of_any_chunked_body(sizes: list[int], cuts: list[int], trailer: bool,
                                                             after: bytes) -> None:
    framing = b"".join(b"%x;ext=1\r\n%s\r\n" % (n, b"z" * n) for n in sizes if n) + b"0\r\n"
    framing += (b"X-T: 1\r\n" if trailer else b"") + b"\r\n"
    stream = framing + after
    tracker = ChunkTracker(limit=10_000)
    used, pos = 0, 0
    for cut in [*cuts, len(stream)]:
        piece = stream[pos:pos + cut]
        pos += len(piece)
        used += tracker.feed(piece)
        if tracker.done:
            break
    assert tracker.done and not tracker.lost
    assert used == len(framing)
    assert tracker.declared == sum(sizes)


def test_the_chunk_tracker_refuses_a_declared_size_over_the_limit_before_its_data() -> None:
    tracker = ChunkTracker(limit=100)
    assert tracker.feed(b"10\r\n" + b"a" * 16 + b"\r\n") > 0
    with pytest.raises(ChunkTooLarge):
        tracker.feed(b"7fffffffffffffff\r\n")
    lost = ChunkTracker(limit=100)
    lost.feed(b"zz\r\n")
    assert lost.lost and lost.done
