"""The framework's default hooks, used for any hook the user's program leaves out.

They mirror SageMaker's scikit-learn container: ``input_fn`` decodes text/csv, application/json
and application/x-npy to a numpy array, ``predict_fn`` calls ``model.predict``, ``output_fn``
encodes to the Accept type (JSON, CSV or NPY). There is no default ``model_fn``: like the
container, we cannot guess how a model was saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelserver import decoding, encoding
from modelserver.errors import NotAcceptable, UnsupportedMediaType
from modelserver.media_types import CSV, JSON, NPY, media_type, negotiate

DECODERS: dict[str, Callable[[bytes | str], Any]] = {
    CSV: decoding.csv_rows,
    JSON: decoding.json_rows,
    NPY: decoding.npy_array,
}
# Order matters: it is the preference when the Accept header allows several (e.g. "text/*").
ENCODERS: dict[str, Callable[[Any], bytes]] = {
    JSON: encoding.to_json,
    CSV: encoding.to_csv,
    NPY: encoding.to_npy,
}

_MEMO_LIMIT = 256
_accept_memo: dict[str, str | None] = {}


def default_input_fn(body: bytes | str, content_type: str) -> Any:
    decoder = DECODERS.get(media_type(content_type.encode("latin-1")))
    if decoder is None:
        raise UnsupportedMediaType(
            f"unsupported content type {content_type!r}: send text/csv, application/json or application/x-npy"
        )
    return decoder(body)


def default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def choose_encoding(accept: str) -> str:
    """The response media type for an Accept header; NotAcceptable when none is supported."""
    chosen = _accept_memo.get(accept, "")
    if chosen == "":
        chosen = negotiate(accept, ENCODERS)
        if len(_accept_memo) < _MEMO_LIMIT:
            _accept_memo[accept] = chosen
    if chosen is None:
        raise NotAcceptable(f"cannot answer in {accept!r}: accept application/json, text/csv or application/x-npy")
    return chosen


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    chosen = choose_encoding(accept)
    return ENCODERS[chosen](prediction), chosen
