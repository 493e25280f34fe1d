"""Property tests for the request parsers (modelserver's defaults and the taxi hooks).

- any finite float matrix survives CSV and JSON exactly (float64 repr round trip);
- arbitrary bytes never crash a parser: they decode to a 2-D float array or raise the 4xx error;
- the fast pandas route and the exact float() route accept the same inputs and give the same values.
"""

from __future__ import annotations

import importlib.util
import io
import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from serving_helpers import ROOT, TAXI_FEATURES

from modelserver import decoding, encoding
from modelserver.errors import BadRequest

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
matrices = st.integers(1, 12).flatmap(
    lambda cols: arrays(np.float64, st.tuples(st.integers(1, 20), st.just(cols)), elements=finite)
)


def as_csv(matrix: np.ndarray, newline: str = "\n") -> bytes:
    return newline.join(",".join(map(repr, row)) for row in matrix.tolist()).encode()


@SETTINGS
@given(matrices, st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_csv_round_trips_any_finite_matrix(matrix: np.ndarray, newline: str, trailing: bool) -> None:
    body = as_csv(matrix, newline) + (newline.encode() if trailing else b"")
    assert np.array_equal(decoding.csv_rows(body), matrix)


@SETTINGS
@given(matrices)
def test_csv_round_trips_through_the_pandas_route(matrix: np.ndarray) -> None:
    big = np.tile(matrix, (max(1, decoding.PANDAS_MIN_BYTES // max(1, len(as_csv(matrix)))) + 1, 1))
    body = as_csv(big)
    assert len(body) >= decoding.PANDAS_MIN_BYTES
    assert np.array_equal(decoding.csv_rows(body), big)


@SETTINGS
@given(matrices)
def test_json_round_trips_any_finite_matrix(matrix: np.ndarray) -> None:
    assert np.array_equal(decoding.json_rows(json.dumps(matrix.tolist())), matrix)
    assert np.array_equal(decoding.json_rows(json.dumps({"instances": matrix.tolist()}).encode()), matrix)


@SETTINGS
@given(arrays(np.float64, st.integers(1, 50), elements=finite))
def test_csv_and_json_output_round_trip(prediction: np.ndarray) -> None:
    lines = encoding.to_csv(prediction).decode().splitlines()
    assert [float(v) for v in lines] == prediction.tolist()
    assert json.loads(encoding.to_json(prediction)) == prediction.tolist()


def _decodes_or_rejects(parse, body) -> None:
    try:
        result = parse(body)
    except BadRequest as exc:
        assert str(exc)  # a message the caller can read
        return
    assert isinstance(result, np.ndarray) and result.ndim >= 2 and result.size > 0


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_default_parsers(body: bytes) -> None:
    for parse in (decoding.csv_rows, decoding.json_rows, decoding.npy_array):
        _decodes_or_rejects(parse, body)


csvish = st.text(alphabet='0123456789.,-+eEinfatyINFAN \n\r\t"x_', max_size=80)


@SETTINGS
@given(csvish)
def test_arbitrary_csv_text_never_crashes(text: str) -> None:
    _decodes_or_rejects(decoding.csv_rows, text.encode())


@SETTINGS
@given(csvish.filter(lambda t: '"' not in t))
def test_pandas_and_exact_routes_agree(text: str) -> None:
    def parse(threshold: int):
        with mock.patch.object(decoding, "PANDAS_MIN_BYTES", threshold):
            try:
                return decoding.csv_rows(text.encode())
            except BadRequest as exc:
                return str(exc)

    fast, exact = parse(0), parse(10**9)
    if isinstance(exact, str):
        assert fast == exact
    else:
        assert isinstance(fast, np.ndarray), fast
        assert fast.shape == exact.shape
        assert np.array_equal(fast, exact, equal_nan=True)
        assert np.array_equal(np.signbit(fast), np.signbit(exact))


@SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=20))  # fmt: skip
def test_arbitrary_json_documents_never_crash(document) -> None:
    _decodes_or_rejects(decoding.json_rows, json.dumps(document))


def test_deeply_nested_json_is_a_clear_error() -> None:
    with pytest.raises(BadRequest, match="nested too deeply"):
        decoding.json_rows("[" * 100_000 + "]" * 100_000)


def test_npy_never_unpickles() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadRequest, match=r"not a valid \.npy payload"):
        decoding.npy_array(buffer.getvalue())


# ------------------------------------------------------------------------------------ the taxi hooks


@pytest.fixture(scope="module")
def taxi_hooks():
    spec = importlib.util.spec_from_file_location("taxi_hooks_properties", ROOT / "inference" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._features[:] = TAXI_FEATURES  # what model_fn records; no model needed to parse
    module._position.update({name: i for i, name in enumerate(TAXI_FEATURES)})
    return module


taxi_rows = arrays(np.float64, st.tuples(st.integers(1, 15), st.just(10)), elements=finite)


@SETTINGS
@given(matrix=taxi_rows)
def test_taxi_csv_and_json_round_trip(taxi_hooks, matrix: np.ndarray) -> None:
    assert np.array_equal(taxi_hooks.input_fn(as_csv(matrix).decode(), "text/csv"), matrix)
    objects = [dict(zip(TAXI_FEATURES, row, strict=True)) for row in matrix.tolist()]
    assert np.array_equal(taxi_hooks.input_fn(json.dumps({"instances": objects}), "application/json"), matrix)
    assert np.array_equal(taxi_hooks.input_fn(json.dumps(matrix.tolist()), "application/json"), matrix)


@SETTINGS
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["text/csv", "application/json"]))
def test_taxi_parsers_never_crash(taxi_hooks, body: bytes, content_type: str) -> None:
    try:
        rows = taxi_hooks.input_fn(body, content_type)
    except taxi_hooks.RequestError as exc:
        assert exc.status_code == 400 and str(exc)
        return
    assert rows.shape[1] == 10 and np.isfinite(rows).all()
