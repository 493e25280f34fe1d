"""The HTTP contract with the framework's default handlers (a program that defines only model_fn)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from serving_helpers import Answer, ModelServer


def csv_body(rows: np.ndarray) -> str:
    return "\n".join(",".join(map(repr, row)) for row in rows.tolist())


def csv_values(answer: Answer) -> list[float]:
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"] == "text/csv"
    lines = answer.text.splitlines()
    return [float(line) for line in lines]


def assert_still_serving(server: ModelServer, rf_model) -> None:
    answer = server.invoke(csv_body(rf_model.rows[:1]), accept="text/csv")
    assert csv_values(answer) == rf_model.predict(rf_model.rows[:1]).tolist()


def test_ping_is_200_with_an_empty_body(default_server: ModelServer) -> None:
    answer = default_server.request("GET", "/ping")
    assert (answer.status, answer.body) == (200, b"")


def test_csv_single_row_answers_the_exact_prediction(default_server: ModelServer, rf_model) -> None:
    row = rf_model.rows[:1]
    answer = default_server.invoke(csv_body(row), "text/csv", "text/csv")
    assert csv_values(answer) == rf_model.predict(row).tolist()
    assert answer.text.count("\n") == 1


def test_csv_batch_gives_one_value_per_line_in_order(default_server: ModelServer, rf_model) -> None:
    answer = default_server.invoke(csv_body(rf_model.rows) + "\n", "text/csv", "text/csv")
    assert csv_values(answer) == rf_model.predict(rf_model.rows).tolist()


def test_large_csv_batch_takes_the_fast_parser_and_matches(default_server: ModelServer, rf_model) -> None:
    rows = np.tile(rf_model.rows, (40, 1))  # 2,560 rows, well past the pandas threshold
    answer = default_server.invoke(csv_body(rows), "text/csv", "text/csv")
    assert csv_values(answer) == rf_model.predict(rows).tolist()


@pytest.mark.parametrize(
    "document",
    [
        lambda rows: rows.tolist(),
        lambda rows: {"instances": rows.tolist()},
    ],
    ids=["list-of-rows", "instances"],
)
def test_json_batch(default_server: ModelServer, rf_model, document) -> None:
    rows = rf_model.rows[:5]
    answer = default_server.invoke(json.dumps(document(rows)), "application/json", "application/json")
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == rf_model.predict(rows).tolist()


def test_json_flat_list_is_one_row(default_server: ModelServer, rf_model) -> None:
    row = rf_model.rows[0]
    answer = default_server.invoke(json.dumps(row.tolist()), "application/json", "application/json")
    assert json.loads(answer.body) == rf_model.predict(row.reshape(1, -1)).tolist()


def test_npy_in_and_out(default_server: ModelServer, rf_model) -> None:
    buffer = io.BytesIO()
    np.save(buffer, rf_model.rows[:4])
    answer = default_server.invoke(buffer.getvalue(), "application/x-npy", "application/x-npy")
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"] == "application/x-npy"
    got = np.load(io.BytesIO(answer.body), allow_pickle=False)
    assert np.array_equal(got, rf_model.predict(rf_model.rows[:4]))


@pytest.mark.parametrize(
    ("accept", "expected_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        ("image/png, application/json", "application/json"),
    ],
)
def test_accept_negotiation(default_server: ModelServer, rf_model, accept, expected_type) -> None:
    answer = default_server.invoke(csv_body(rf_model.rows[:2]), "text/csv", accept)
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"] == expected_type
    expected = rf_model.predict(rf_model.rows[:2]).tolist()
    got = json.loads(answer.body) if expected_type == "application/json" else csv_values(answer)
    assert got == expected


def test_content_type_parameters_are_ignored(default_server: ModelServer, rf_model) -> None:
    answer = default_server.invoke(csv_body(rf_model.rows[:1]), "Text/CSV; charset=utf-8", "text/csv")
    assert csv_values(answer) == rf_model.predict(rf_model.rows[:1]).tolist()


def test_missing_content_type_means_json(default_server: ModelServer, rf_model) -> None:
    answer = default_server.invoke(json.dumps(rf_model.rows[:1].tolist()), content_type=None)
    assert answer.status == 200, answer.text
    assert json.loads(answer.body) == rf_model.predict(rf_model.rows[:1]).tolist()


GOOD_ROW = ",".join(["1.5"] * 10)

BAD_INPUTS = [
    ("empty body", b"", "text/csv", None, 400, "empty request body"),
    ("blank lines only", b"\n\n", "text/csv", None, 400, "empty request body"),
    ("too few columns", b"1,2,3", "text/csv", None, 400, "needs 10 values"),
    ("too many columns", (GOOD_ROW + ",9").encode(), "text/csv", None, 400, "needs 10 values"),
    ("ragged rows", (GOOD_ROW + "\n1,2").encode(), "text/csv", None, 400, "line 2 has 2 columns but line 1 has 10"),
    ("non-numeric csv", b"1,2,abc,4,5,6,7,8,9,10", "text/csv", None, 400, "line 1, column 3: 'abc' is not a number"),
    ("empty csv value", b"1,,3,4,5,6,7,8,9,10", "text/csv", None, 400, "line 1, column 2: empty value"),
    ("malformed quoted csv", b'1,"2,3', "text/csv", None, 400, "malformed CSV"),
    ("malformed json", b"[[1, 2", "application/json", None, 400, "malformed JSON"),
    ("json string value", b'[[1, "x", 3]]', "application/json", None, 400, "row 1, column 2: '\"x\"' is not a number"),
    ("json ragged", b"[[1, 2], [1]]", "application/json", None, 400, "row 2 has 1 values but row 1 has 2"),
    ("json object", b'{"rows": [[1]]}', "application/json", None, 400, 'expected a list of rows or {"instances"'),
    ("json scalar", b"42", "application/json", None, 400, "expected a list of rows"),
    ("json empty list", b"[]", "application/json", None, 400, "no rows"),
    ("bad npy", b"not an array", "application/x-npy", None, 400, "not a valid .npy payload"),
    ("unsupported type", GOOD_ROW.encode(), "text/plain", None, 415, "unsupported content type 'text/plain'"),
    ("unsupported accept", GOOD_ROW.encode(), "text/csv", "image/png", 406, "cannot answer in 'image/png'"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_survives(
    default_server: ModelServer, rf_model, body, content_type, accept, status, message
) -> None:
    answer = default_server.invoke(body, content_type, accept)
    assert answer.status == status, answer.text
    assert message in answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert_still_serving(default_server, rf_model)


def test_body_over_6_mb_is_413(default_server: ModelServer, rf_model) -> None:
    body = b"1" * (6 * 1024 * 1024 + 1)
    answer = default_server.invoke(body)
    assert answer.status == 413
    assert "6291457 bytes exceeds the 6291456 byte limit" in answer.text
    assert_still_serving(default_server, rf_model)


def test_chunked_body_over_6_mb_is_413(default_server: ModelServer, rf_model) -> None:
    """The server may answer 413 and close before the client has sent it all: the client then reads the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", default_server.port), timeout=30) as conn:
        conn.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % (1024 * 1024) + b"1" * (1024 * 1024) + b"\r\n"
        try:
            for _ in range(7):
                conn.sendall(chunk)
            conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part-way, as it should be
        answer = b""
        try:
            while b"exceeds" not in answer and (data := conn.recv(65536)):
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"exceeds the 6291456 byte limit" in answer
    assert_still_serving(default_server, rf_model)


def test_routes_and_methods(default_server: ModelServer) -> None:
    assert default_server.request("GET", "/invocations").status == 405
    assert default_server.request("POST", "/ping").status == 405
    missing = default_server.request("GET", "/nope")
    assert missing.status == 404
    assert "POST /invocations" in missing.text


def test_execution_parameters_for_batch_transform(default_server: ModelServer) -> None:
    answer = default_server.request("GET", "/execution-parameters")
    assert answer.status == 200
    assert json.loads(answer.body) == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_keep_alive_connection_serves_many_requests(default_server: ModelServer, rf_model) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", default_server.port, timeout=30)
    try:
        for row in rf_model.rows[:20]:
            conn.request("POST", "/invocations", body=",".join(map(repr, row.tolist())),
                         headers={"Content-Type": "text/csv", "Accept": "text/csv"})  # fmt: skip
            response = conn.getresponse()
            assert float(response.read()) == rf_model.predict(row.reshape(1, -1))[0]
    finally:
        conn.close()
