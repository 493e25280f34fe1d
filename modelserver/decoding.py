"""Request bodies -> 2-D float arrays: the default input_fn's CSV, JSON and NPY decoders.

Semantics follow SageMaker's scikit-learn container (each CSV line is a row, no header; JSON is a
list of rows; NPY is a saved array) with three deliberate improvements, all documented in README:

- a single CSV row or a flat JSON list decodes to ONE ROW of shape (1, n), not a 1-D array that
  ``model.predict`` would reject;
- a non-numeric value is a 400 naming its line/row and column, never a silent NaN;
- values decode to float64 (the container casts text input to float32, losing precision).

Speed matters because this runs on the event loop for every request. Small numeric CSV bodies are
split on bytes and converted with ``float`` (a few microseconds for a row); big ones go through
pandas' C parser (4x faster than ``float`` on 10,000 values). Whenever the fast route fails, the
exact line-by-line route runs again to produce the error message, so both routes accept exactly
the same inputs and return the same values (a property test holds them to that).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from modelserver.errors import BadRequest

# Below this many bytes (~2,000 values), Python's float() beats pandas' fixed ~0.4 ms set-up cost.
PANDAS_MIN_BYTES = 16 * 1024
_SHOWN_CHARS = 40


def _show(token: bytes | str) -> str:
    text = token.decode("utf-8", "replace") if isinstance(token, bytes) else token
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def _bad_value(where: str, token: bytes | str) -> BadRequest:
    if not token.strip():
        return BadRequest(f"{where}: empty value (send nan for a missing value)")
    return BadRequest(f"{where}: {_show(token)} is not a number")


# ---------------------------------------------------------------------------------------------- CSV


def csv_rows(body: bytes | str) -> np.ndarray:
    """Decode headerless numeric CSV (one row per line, blank lines ignored) to float64 (rows, cols)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if b'"' in data:
        return _csv_quoted(data)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b"\n\n" in data or data.startswith(b"\n"):
        data = b"\n".join(line for line in data.split(b"\n") if line)
    if len(data) >= PANDAS_MIN_BYTES:
        # Big body: no Python-level pass over its lines. pandas rejects short and long rows
        # itself, and whatever it rejects is explained by the exact route below.
        rows = data.count(b"\n") + (not data.endswith(b"\n"))
        first = data.find(b"\n")
        columns = (data[:first] if first >= 0 else data).count(b",") + 1
        parsed = _csv_with_pandas(data, rows, columns)
        if parsed is not None:
            return parsed
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()
    if not lines:
        raise BadRequest("empty request body: send one CSV row of numbers per line")
    columns = lines[0].count(b",") + 1
    rows = len(lines)
    if rows > 1 and any(line.count(b",") != columns - 1 for line in lines):
        raise _ragged(data)
    try:
        values = list(map(float, (b",".join(lines) if rows > 1 else lines[0]).split(b",")))
    except ValueError:
        raise _locate_bad_value(data) from None
    return np.array(values, dtype=np.float64).reshape(rows, columns)


def _csv_with_pandas(data: bytes, rows: int, columns: int) -> np.ndarray | None:
    """pandas' C tokenizer for big bodies; None means "use the exact route" (it then explains)."""
    import pandas as pd  # imported lazily: small requests never need it

    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            header=None,
            dtype=np.float64,
            na_filter=False,
            engine="c",
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            comment=None,
            low_memory=False,  # one chunk: ~15 % faster for the bodies that take this route
        )
    except Exception:
        return None
    parsed = frame.to_numpy(dtype=np.float64)
    return parsed if parsed.shape == (rows, columns) else None


def _ragged(data: bytes) -> BadRequest:
    expected = None
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        count = line.count(b",") + 1
        if expected is None:
            expected, first = count, number
        elif count != expected:
            return BadRequest(
                f"line {number} has {count} columns but line {first} has {expected}; "
                "every row needs the same number of values"
            )
    return BadRequest("rows have different numbers of columns")


def _locate_bad_value(data: bytes) -> BadRequest:
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        for column, token in enumerate(line.split(b","), 1):
            try:
                float(token)
            except ValueError:
                return _bad_value(f"line {number}, column {column}", token)
    return BadRequest("the CSV body holds a value that is not a number")


def _csv_quoted(data: bytes) -> np.ndarray:
    """Slow, exact route for bodies with quoted fields (rare for numeric features)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the CSV body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    parsed: list[list[float]] = []
    first = 0
    try:
        for row in reader:
            if not row:
                continue
            number = reader.line_num
            if parsed and len(row) != len(parsed[0]):
                raise BadRequest(
                    f"line {number} has {len(row)} columns but line {first} has {len(parsed[0])}; "
                    "every row needs the same number of values"
                )
            values = []
            for column, token in enumerate(row, 1):
                try:
                    values.append(float(token))
                except ValueError:
                    raise _bad_value(f"line {number}, column {column}", token) from None
            if not parsed:
                first = number
            parsed.append(values)
    except csv.Error as exc:
        raise BadRequest(f"malformed CSV at line {reader.line_num}: {exc}") from None
    if not parsed:
        raise BadRequest("empty request body: send one CSV row of numbers per line")
    return np.array(parsed, dtype=np.float64)


# --------------------------------------------------------------------------------------------- JSON


def json_rows(body: bytes | str) -> np.ndarray:
    """Decode ``[[...], ...]``, ``[...]`` (one row) or ``{"instances": ...}`` to float64 (rows, cols)."""
    if not body.strip():
        raise BadRequest("empty request body: send a JSON list of rows, e.g. [[1.0, 2.0]]")
    try:
        document = json.loads(body)
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadRequest(f"malformed JSON: {exc}") from None
    return rows_from_document(document)


def rows_from_document(document: Any) -> np.ndarray:
    """Turn decoded JSON into rows; the numpy route is tried first, the checks explain failures."""
    if isinstance(document, dict):
        if "instances" not in document:
            keys = ", ".join(sorted(map(str, document))[:5])
            raise BadRequest(f'expected a list of rows or {{"instances": [...]}}; got an object with keys {keys}')
        document = document["instances"]
    if not isinstance(document, list):
        raise BadRequest(f"expected a list of rows of numbers; got {type(document).__name__}")
    if not document:
        raise BadRequest("no rows: the list is empty")
    try:
        array = np.array(document)
    except (ValueError, TypeError, OverflowError, RecursionError):
        array = None
    if array is not None and array.dtype.kind in "biuf" and array.ndim in (1, 2) and array.size:
        return array.reshape(1, -1).astype(np.float64) if array.ndim == 1 else array.astype(np.float64)
    return _checked_rows(document)


def _checked_rows(document: list[Any]) -> np.ndarray:
    rows = document if isinstance(document[0], list) else [document]
    width = None
    out = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list):
            raise BadRequest(f"row {number} is {type(row).__name__}, expected a list of numbers")
        if not row:
            raise BadRequest(f"row {number} is empty")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise BadRequest(f"row {number} has {len(row)} values but row 1 has {width}")
        values = []
        for column, value in enumerate(row, 1):
            if not isinstance(value, (int, float)):
                raise BadRequest(f"row {number}, column {column}: {_show(json.dumps(value))} is not a number")
            try:
                values.append(float(value))
            except OverflowError:
                raise BadRequest(f"row {number}, column {column}: number too large for a float") from None
        out.append(values)
    return np.array(out, dtype=np.float64)


# ---------------------------------------------------------------------------------------------- NPY


def npy_array(body: bytes | str) -> np.ndarray:
    """Decode a ``numpy.save`` payload (never unpickles); a 1-D array is one row."""
    data = body.encode("latin-1") if isinstance(body, str) else body
    if not data:
        raise BadRequest("empty request body: send an array written by numpy.save")
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise BadRequest(f"not a valid .npy payload: {exc}") from None
    if not isinstance(loaded, np.ndarray):
        raise BadRequest("expected a single .npy array, not an .npz archive")
    if loaded.ndim == 0:
        raise BadRequest("expected rows of values, got a 0-d array")
    return loaded.reshape(1, -1) if loaded.ndim == 1 else loaded
