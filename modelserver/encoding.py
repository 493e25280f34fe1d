"""Predictions -> response bytes: the default output_fn's JSON, CSV and NPY encoders.

Formats match SageMaker's scikit-learn container: JSON is the prediction as a plain list
(``[12.5, 7.25]``), CSV has one line per prediction row (a 1-D prediction gives one value per
line, a 2-D one comma-separated rows), NPY is ``numpy.save`` output. Floats are written with
Python's shortest round-trip ``repr`` so a CSV or JSON reader recovers the exact float64.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from modelserver.errors import InvocationError


def as_array(prediction: Any) -> np.ndarray:
    """Any prediction-like value (ndarray, list, scalar, pandas object) as a numpy array."""
    if isinstance(prediction, np.ndarray):
        return prediction
    to_numpy = getattr(prediction, "to_numpy", None)  # pandas Series/DataFrame without importing pandas
    if callable(to_numpy):
        return np.asarray(to_numpy())
    return np.asarray(prediction)


def to_json(prediction: Any) -> bytes:
    array = as_array(prediction)
    if array.dtype.kind == "O":
        return json.dumps(array.tolist(), default=str).encode()
    return json.dumps(array.tolist()).encode()


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def to_csv(prediction: Any) -> bytes:
    array = as_array(prediction)
    if array.dtype.kind == "f" and array.ndim == 1:
        # float.__repr__ directly: twice as fast as repr() on 1,000 values (no dispatch)
        return ("\n".join(map(float.__repr__, array.tolist())) + "\n").encode()
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim > 2:
        raise InvocationError(f"cannot write a {array.ndim}-D prediction as CSV; ask for application/json")
    rows = array.tolist()
    if array.ndim == 1:
        rows = [[value] for value in rows]
    if array.dtype.kind in "biuf":
        return "".join(",".join(map(_cell, row)) + "\n" for row in rows).encode()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().encode()


def to_npy(prediction: Any) -> bytes:
    out = io.BytesIO()
    array = as_array(prediction)
    if array.dtype.kind == "O":
        raise InvocationError("cannot write an object array as .npy without pickling; ask for application/json")
    np.save(out, array, allow_pickle=False)
    return out.getvalue()
