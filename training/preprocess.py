"""SageMaker Processing step: raw TLC trips -> cleaned, featurised train/validation/test CSVs.

Why it looks like this: it runs as the single file of a Processing job
(``python3 /opt/ml/processing/input/code/preprocess.py``), so it is
self-contained, imports only stdlib/numpy/pandas/pyarrow, and speaks the
container contract:

* input: every ``*.parquet`` / ``*.csv`` file (recursively, sorted) under
  ``<base>/input/data``;
* output: ``<base>/{train,validation,test}/<split>.csv`` (headerless, target
  first, then the features in ``FEATURES`` order) and a ``schema.json`` beside
  each, ``{"target": "duration_minutes", "features": [...]}``;
* ``<base>`` is ``/opt/ml/processing`` unless ``SM_PROCESSING_BASE_DIR`` says
  otherwise (local runs and tests).

Real TLC files must work unchanged, so column names are matched
case-insensitively (``airport_fee`` / ``Airport_fee``), timestamps may be ns or
us or strings, IDs may be nullable ints, and unknown extra columns
(``cbd_congestion_fee``...) are ignored. Green-taxi ``lpep_*`` timestamps are
accepted as well.

Bad input (no files, missing required columns, nothing left after cleaning)
is reported on stderr, in ``<SM_OUTPUT_DIR or /opt/ml/output>/message`` (only
when that folder's parent exists: a host is never littered), and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "duration_minutes"
FEATURES = [
    "trip_distance",
    "PULocationID",
    "DOLocationID",
    "passenger_count",
    "pickup_hour",
    "pickup_weekday",
    "is_weekend",
    "hour_sin",
    "hour_cos",
    "is_airport_trip",
]
AIRPORT_ZONES = (1, 132, 138)  # Newark, JFK, LaGuardia
MAX_ZONE_ID = 265  # 264/265 are the TLC's "unknown" zones: real, kept

# Canonical name -> accepted spellings (compared lowercase).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "pickup": ("tpep_pickup_datetime", "lpep_pickup_datetime", "pickup_datetime"),
    "dropoff": ("tpep_dropoff_datetime", "lpep_dropoff_datetime", "dropoff_datetime"),
    "trip_distance": ("trip_distance",),
    "PULocationID": ("pulocationid",),
    "DOLocationID": ("dolocationid",),
    "passenger_count": ("passenger_count",),
    "fare_amount": ("fare_amount",),
}
REQUIRED = ("pickup", "dropoff", "trip_distance", "PULocationID", "DOLocationID")

# Cleaning limits.
MIN_MINUTES, MAX_MINUTES = 1.0, 180.0
MAX_MILES = 100.0
MAX_MPH = 70.0
MAX_PASSENGERS = 9


class InputError(Exception):
    """Input the job cannot work with; the message is shown to the user as is."""


def base_dir() -> Path:
    return Path(os.environ.get("SM_PROCESSING_BASE_DIR", "/opt/ml/processing"))


def report_failure(message: str, file_name: str = "message") -> None:
    """Print to stderr and, where a SageMaker output folder exists, keep it for ExitMessage."""
    print(f"error: {message}", file=sys.stderr)
    explicit = os.environ.get("SM_OUTPUT_DIR")
    out = Path(explicit) if explicit else Path("/opt/ml/output")
    if not explicit and not out.parent.is_dir():
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / file_name).write_text(message[:1024] + "\n")
    except OSError:
        pass


def find_inputs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist")
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".csv")),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise InputError(f"no .parquet or .csv files under {folder}")
    return files


def resolve_columns(names: list[str], source: str) -> dict[str, str]:
    """Map canonical column names to the file's own spelling; fail on missing required ones."""
    lower = {}
    for name in names:
        lower.setdefault(name.lower(), name)
    found = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias.lower() in lower:
                found[canonical] = lower[alias.lower()]
                break
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        wanted = [COLUMN_ALIASES[c][0] for c in missing]
        raise InputError(f"{source}: missing required column(s) {', '.join(wanted)}")
    return found


def _parse_timestamps(text: pd.Series) -> pd.Series:
    """Strings -> timestamps: the fast ISO path first, element-wise guessing only for what it missed."""
    if int(pd.__version__.split(".")[0]) < 2:  # older containers: no format="ISO8601"/"mixed"
        return pd.to_datetime(text, errors="coerce")
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    missed = parsed.isna() & text.notna()
    if missed.any():
        parsed = parsed.where(~missed, pd.to_datetime(text.where(missed), errors="coerce", format="mixed"))
    return parsed


def _timestamps(series: pd.Series) -> pd.Series:
    """Any timestamp representation (ns/us/ms, tz-aware, strings) -> naive datetime64[us]."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = _parse_timestamps(series)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_localize(None)
    return series.astype("datetime64[us]")


def _numbers(series: pd.Series) -> np.ndarray:
    """Nullable ints, floats or strings -> float64 with NaN for missing/garbage."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def read_file(path: Path) -> pd.DataFrame:
    """Read one file into canonical columns: pickup, dropoff (datetime64[us]) and float64 numbers."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"{path.name}: not a readable parquet file ({exc})") from exc
        columns = resolve_columns(names, path.name)
        raw = pd.read_parquet(path, columns=list(columns.values()), engine="pyarrow")
    else:
        try:
            header = pd.read_csv(path, nrows=0).columns
            columns = resolve_columns([str(c) for c in header], path.name)
            raw = pd.read_csv(path, usecols=list(columns.values()), low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{path.name}: not a readable csv file ({exc})") from exc
    out = pd.DataFrame(
        {
            "pickup": _timestamps(raw[columns["pickup"]]),
            "dropoff": _timestamps(raw[columns["dropoff"]]),
        }
    )
    for name in ("trip_distance", "PULocationID", "DOLocationID", "passenger_count", "fare_amount"):
        out[name] = _numbers(raw[columns[name]]) if name in columns else np.nan
    return out


def clean(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop impossible trips; return the kept rows and the number dropped per reason (first rule wins)."""
    minutes = (
        (frame["dropoff"] - frame["pickup"]).dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
    )
    distance = frame["trip_distance"].to_numpy()
    pu, do = frame["PULocationID"].to_numpy(), frame["DOLocationID"].to_numpy()
    passengers = frame["passenger_count"].to_numpy()
    fare = frame["fare_amount"].to_numpy()
    minutes = minutes / 60.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mph = distance / (minutes / 60.0)

    def bad_zone(z: np.ndarray) -> np.ndarray:
        return (z < 1) | (z > MAX_ZONE_ID) | (z != np.round(z))

    rules = [
        ("missing_required", np.isnan(minutes) | np.isnan(distance) | np.isnan(pu) | np.isnan(do)),
        ("dropoff_not_after_pickup", minutes <= 0),
        ("duration_under_1_min", minutes < MIN_MINUTES),
        ("duration_over_3_h", minutes > MAX_MINUTES),
        ("non_positive_distance", distance <= 0),
        ("distance_over_100_mi", distance > MAX_MILES),
        ("invalid_location", bad_zone(pu) | bad_zone(do)),
        ("implausible_speed", mph > MAX_MPH),
        ("negative_fare", fare < 0),
        ("invalid_passenger_count", (passengers < 0) | (passengers > MAX_PASSENGERS)),
    ]
    keep = np.ones(len(frame), dtype=bool)
    dropped: dict[str, int] = {}
    for reason, bad in rules:
        hit = keep & bad
        dropped[reason] = int(hit.sum())
        keep &= ~hit
    kept = frame.loc[keep].reset_index(drop=True)
    kept["duration_minutes"] = minutes[keep]
    return kept, dropped


def featurise(frame: pd.DataFrame) -> pd.DataFrame:
    """Target first, then FEATURES in order, all float64."""
    pickup = frame["pickup"]
    hour = pickup.dt.hour.to_numpy()
    frac_hour = hour + pickup.dt.minute.to_numpy() / 60.0
    weekday = pickup.dt.day_of_week.to_numpy()
    angle = 2.0 * np.pi * frac_hour / 24.0
    passengers = frame["passenger_count"].to_numpy()
    pu, do = frame["PULocationID"].to_numpy(), frame["DOLocationID"].to_numpy()
    out = pd.DataFrame(
        {
            TARGET: frame["duration_minutes"].to_numpy(),
            "trip_distance": frame["trip_distance"].to_numpy(),
            "PULocationID": pu,
            "DOLocationID": do,
            # Unknown passenger counts (the real files' null block) become the mode, 1.
            "passenger_count": np.where(np.isnan(passengers), 1.0, passengers),
            "pickup_hour": hour,
            "pickup_weekday": weekday,
            "is_weekend": (weekday >= 5),
            "hour_sin": np.sin(angle),
            "hour_cos": np.cos(angle),
            "is_airport_trip": np.isin(pu, AIRPORT_ZONES) | np.isin(do, AIRPORT_ZONES),
        }
    )
    return out.astype("float64")[[TARGET, *FEATURES]]


def split(n: int, test_fraction: float, validation_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Seeded random split; each part keeps the input order."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    return {
        "train": np.sort(order[n_test + n_val :]),
        "validation": np.sort(order[n_test : n_test + n_val]),
        "test": np.sort(order[:n_test]),
    }


def write_split(frame: pd.DataFrame, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{name}.csv", header=False, index=False, float_format="%.10g")
    (folder / "schema.json").write_text(json.dumps({"target": TARGET, "features": FEATURES}, indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-fraction", "--test_fraction", type=float, default=0.1)
    parser.add_argument("--validation-fraction", "--validation_fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--sample-rows",
        "--sample_rows",
        type=int,
        default=0,
        help="keep at most this many cleaned rows (seeded sample); 0 keeps all",
    )
    args = parser.parse_args(argv)
    for name in ("test_fraction", "validation_fraction"):
        if not 0.0 <= getattr(args, name) < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    if args.test_fraction + args.validation_fraction >= 1.0:
        parser.error("--test-fraction + --validation-fraction must leave rows for training")
    if args.sample_rows < 0:
        parser.error("--sample-rows must be >= 0")
    return args


def run(args: argparse.Namespace) -> None:
    base = base_dir()
    files = find_inputs(base / "input" / "data")
    frames = []
    for path in files:
        frame = read_file(path)
        print(f"read {path.name}: {len(frame)} rows")
        frames.append(frame)
    raw = pd.concat(frames, ignore_index=True)
    kept, dropped = clean(raw)
    print(f"rows_read={len(raw)}")
    for reason, count in dropped.items():
        print(f"rows_dropped.{reason}={count}")
    print(f"rows_dropped={sum(dropped.values())}")
    print(f"rows_kept={len(kept)}")
    imputed = int(kept["passenger_count"].isna().sum())
    print(f"passenger_count_imputed={imputed}")
    if kept.empty:
        raise InputError("no rows left after cleaning")
    if args.sample_rows and len(kept) > args.sample_rows:
        pick = np.sort(
            np.random.default_rng(args.seed + 1).choice(len(kept), args.sample_rows, replace=False)
        )
        kept = kept.iloc[pick].reset_index(drop=True)
        print(f"rows_sampled={len(kept)}")
    table = featurise(kept)
    parts = split(len(table), args.test_fraction, args.validation_fraction, args.seed)
    if parts["train"].size == 0:
        raise InputError("too few rows for a training split")
    for name, rows in parts.items():
        write_split(table.iloc[rows], base / name, name)
        print(f"rows_{name}={rows.size}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except InputError as exc:
        report_failure(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
