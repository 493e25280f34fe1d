"""Read what Model Monitor analyses: data-capture JSONL files and ground-truth JSONL files.

A monitoring window can hold a million captured requests, so nothing here loops over records in
Python: pyarrow's JSON reader parses the files (in parallel, in C++), the payloads are joined into
one CSV document and pyarrow's CSV reader turns it into columns. A file with a malformed line is
read again line by line so that its good lines still count; the bad ones are reported with their
file and line number, never silently dropped and never fatal.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

__all__ = ["Capture", "CaptureError", "csv_columns", "read_capture", "read_ground_truth"]

_BLOCK = 64 << 20
_MAX_PROBLEMS = 20
_WIDTH_SAMPLE = 20_000


class CaptureError(ValueError):
    """The capture cannot be analysed; the message is fit for a FailureReason."""


@dataclass
class Capture:
    """The records of a window: one entry per captured request (payloads still encoded)."""

    event_ids: pa.Array
    inference_ids: pa.Array
    inputs: pa.Array
    input_encodings: pa.Array
    outputs: pa.Array
    output_encodings: pa.Array
    inference_times: pa.Array
    """timestamp[s], null where a record has none (or an unreadable one)."""
    problems: list[str] = field(default_factory=list)
    """Lines that could not be read, described (file:line: why), at most _MAX_PROBLEMS."""
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.event_ids)

    def within(self, start: float, end: float) -> Capture:
        """The records whose inferenceTime lies in [start, end) (epoch seconds); undated ones stay."""
        seconds = pc.cast(pc.cast(self.inference_times, pa.int64()), pa.float64())
        keep = pc.fill_null(pc.and_(pc.greater_equal(seconds, start), pc.less(seconds, end)), True)
        def kept(array: pa.Array) -> pa.Array:
            return pc.filter(array, keep)

        return Capture(kept(self.event_ids), kept(self.inference_ids), kept(self.inputs), kept(self.input_encodings),
                       kept(self.outputs), kept(self.output_encodings), kept(self.inference_times), self.problems,
                       self.skipped)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".json", ""))


def _table(path: Path, problems: list[str]) -> tuple[pa.Table, int]:
    """The file's records; on a malformed line, the good lines and a note per bad one."""
    try:
        return pajson.read_json(path, read_options=pajson.ReadOptions(block_size=_BLOCK)), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    rows, bad = [], 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    raise ValueError("a line must be a JSON object")
                rows.append(record)
            except ValueError as e:
                bad += 1
                if len(problems) < _MAX_PROBLEMS:
                    problems.append(f"{path.name}:{number}: malformed capture line skipped ({e})")
    return pa.Table.from_pylist(rows), bad


def _field(table: pa.Table, *path: str, raw: bool = False) -> pa.Array:
    """A nested field as a string array (nulls where a record lacks it); `raw` keeps its own type."""
    column: pa.Array | pa.ChunkedArray | None = table.column(path[0]) if path[0] in table.column_names else None
    for name in path[1:]:
        if column is None:
            break
        combined = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_struct(combined.type) or combined.type.get_field_index(name) < 0:
            column = None
            break
        column = combined.field(name)
    if column is None:
        return pa.nulls(table.num_rows, pa.string())
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array if raw or pa.types.is_string(array.type) else pc.cast(array, pa.string())


def _seconds(times: pa.Array) -> pa.Array:
    """inferenceTime as timestamp[s]: pyarrow's JSON reader parses ISO 8601 itself, a fallback read does not."""
    if pa.types.is_timestamp(times.type):
        return pc.cast(times, pa.timestamp("s"))
    return pc.strptime(pc.cast(times, pa.string()), format="%Y-%m-%dT%H:%M:%SZ", unit="s", error_is_null=True)


def read_capture(folder: Path) -> Capture:
    """Every captured request under `folder` (any depth), in file order."""
    problems: list[str] = []
    parts: dict[str, list[pa.Array]] = {k: [] for k in ("event", "inference", "in", "in_enc", "out", "out_enc",
                                                          "time")}
    skipped = 0
    for path in _files(folder):
        table, bad = _table(path, problems)
        skipped += bad
        if table.num_rows == 0:
            continue
        parts["event"].append(_field(table, "eventMetadata", "eventId"))
        parts["inference"].append(_field(table, "eventMetadata", "inferenceId"))
        parts["in"].append(_field(table, "captureData", "endpointInput", "data"))
        parts["in_enc"].append(_field(table, "captureData", "endpointInput", "encoding"))
        parts["out"].append(_field(table, "captureData", "endpointOutput", "data"))
        parts["out_enc"].append(_field(table, "captureData", "endpointOutput", "encoding"))
        parts["time"].append(_seconds(_field(table, "eventMetadata", "inferenceTime", raw=True)))
    joined = {k: pa.concat_arrays(v) if v else pa.array([], pa.timestamp("s") if k == "time" else pa.string())
              for k, v in parts.items()}
    return Capture(joined["event"], joined["inference"], joined["in"], joined["in_enc"], joined["out"],
                   joined["out_enc"], joined["time"], problems, skipped)


def _payload_texts(payloads: pa.Array, encodings: pa.Array) -> tuple[list[str], int]:
    """Each payload as CSV text (BASE64 decoded, JSON lists flattened), and how many could not be."""
    present = pc.fill_null(pc.invert(pc.is_null(payloads)), False)
    if pc.all(pc.fill_null(pc.equal(encodings, "CSV"), False)).as_py():  # the common case, vectorised
        kept = pc.filter(payloads, present)
        return pc.utf8_rtrim(kept, characters="\r\n").to_pylist(), len(payloads) - len(kept)
    texts, skipped = [], 0
    for text, encoding in zip(payloads.to_pylist(), encodings.to_pylist(), strict=True):
        try:
            if text is None:
                raise ValueError("no payload")
            if encoding == "BASE64":
                text = base64.b64decode(text, validate=True).decode("utf-8")
            elif encoding == "JSON":
                value = json.loads(text)
                rows = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
                if not all(isinstance(row, list) for row in rows):
                    raise ValueError("a JSON payload must be a list of values (or of rows)")
                text = "\n".join(",".join("" if v is None else str(v) for v in row) for row in rows)
        except (ValueError, TypeError, UnicodeDecodeError):
            skipped += 1
            continue
        texts.append(text.rstrip("\r\n"))
    return texts, skipped


def _common_width(texts: list[str]) -> int | None:
    """The column count most rows have, from the rows without quotes (whose commas all separate);
    None when every row quotes something (then the first row decides, as CSV readers do). Read
    from at most _WIDTH_SAMPLE payloads spread over the window: a million would cost a second."""
    step = max(1, len(texts) // _WIDTH_SAMPLE)
    lines = pc.list_flatten(pc.split_pattern(pa.array(texts[::step], pa.large_string()), "\n"))
    plain = pc.filter(lines, pc.invert(pc.match_substring(lines, '"')))
    if len(plain) == 0:
        return None
    counts = pc.value_counts(pc.add(pc.count_substring(plain, ","), 1)).to_pylist()
    return int(max(counts, key=lambda c: (c["counts"], -c["values"]))["values"])


def csv_columns(payloads: pa.Array, encodings: pa.Array, problems: list[str]) -> tuple[pa.Table, int]:
    """The payloads' CSV rows as columns `_c0`, `_c1`... (as the analyzer names headerless columns).

    Returns the table and how many rows were skipped (a row with another column count than most
    rows of the window, or a JSON payload that is not a flat list of values). Most, not the first:
    a window may open with a few requests of another shape (a client with an old schema) and must
    not lose the rest to them.
    """
    texts, skipped = _payload_texts(payloads, encodings)
    if not texts:
        return pa.table({}), skipped
    width = _common_width(texts)
    invalid = 0

    def count_invalid(row: pacsv.InvalidRow) -> str:
        nonlocal invalid
        invalid += 1
        if len(problems) < _MAX_PROBLEMS:
            problems.append(f"captured row skipped: expected {row.expected_columns} columns, got {row.actual_columns}")
        return "skip"

    blob = "\n".join(texts).encode()
    table = pacsv.read_csv(
        io.BytesIO(blob), read_options=pacsv.ReadOptions(
            column_names=[f"_c{i}" for i in range(width)] if width else None, autogenerate_column_names=not width,
            block_size=_BLOCK),
        parse_options=pacsv.ParseOptions(invalid_row_handler=count_invalid))
    table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    return table, skipped + invalid


def read_ground_truth(folder: Path) -> tuple[pa.Array, pa.Array, list[str]]:
    """Ground-truth labels under `folder`: (event ids, label texts, problems)."""
    problems: list[str] = []
    ids, labels = [], []
    for path in _files(folder):
        table, _bad = _table(path, problems)
        if table.num_rows == 0:
            continue
        ids.append(_field(table, "eventMetadata", "eventId"))
        labels.append(_field(table, "groundTruthData", "data"))
    if not ids:
        return pa.array([], pa.string()), pa.array([], pa.string()), problems
    return pa.concat_arrays(ids), pa.concat_arrays(labels), problems
