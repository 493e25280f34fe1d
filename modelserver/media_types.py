"""Content-Type and Accept header handling.

Headers arrive as raw bytes on every request, and a fleet of clients sends a handful of distinct
values, so parsing results are memoised per raw value (bounded, so a hostile client cycling
through random headers cannot grow memory).
"""

from __future__ import annotations

from collections.abc import Iterable

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
ANY = "*/*"

# SageMaker hands these types to user hooks as str (decoded UTF-8), everything else as bytes.
UTF8_TYPES = frozenset({CSV, JSON})

_MEMO_LIMIT = 256
_media_memo: dict[bytes, str] = {}


def media_type(raw: bytes) -> str:
    """``b"Text/CSV; charset=utf-8"`` -> ``"text/csv"`` (parameters dropped, lower case)."""
    found = _media_memo.get(raw)
    if found is None:
        found = raw.decode("latin-1").split(";", 1)[0].strip().lower()
        if len(_media_memo) < _MEMO_LIMIT:
            _media_memo[raw] = found
    return found


def _ranges(accept: str) -> list[tuple[float, int, str]]:
    """Media ranges of an Accept header as (-q, position, range), best first."""
    ranges = []
    for position, part in enumerate(accept.split(",")):
        pieces = part.split(";")
        media = pieces[0].strip().lower()
        if not media:
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, position, media))
    ranges.sort()
    return ranges


def negotiate(accept: str, supported: Iterable[str]) -> str | None:
    """The first supported type that the Accept header allows, honouring q-values and wildcards."""
    offered = list(supported)
    for _, _, media in _ranges(accept):
        if media == ANY:
            return offered[0] if offered else None
        if media.endswith("/*"):
            prefix = media[:-1]
            for candidate in offered:
                if candidate.startswith(prefix):
                    return candidate
        elif media in offered:
            return media
    return None
