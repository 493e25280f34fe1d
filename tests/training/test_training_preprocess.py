"""preprocess.py as a Processing job: outputs, cleaning, real-file variations and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from training_helpers import run_script

from training import preprocess
from training.datagen import generate_month, write_parquet

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


def counters(stdout: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^([\w.]+)=(\d+)$", stdout, flags=re.M)}


def read_split(base: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(base / name / f"{name}.csv", header=None)


def test_writes_three_headerless_splits_with_schema(pipeline) -> None:
    base, counts = pipeline.base, counters(pipeline.preprocess.stdout)
    splits = {name: read_split(base, name) for name in ("train", "validation", "test")}
    for name, frame in splits.items():
        schema = json.loads((base / name / "schema.json").read_text())
        assert schema == {"target": "duration_minutes", "features": FEATURES}
        assert frame.shape[1] == 1 + len(FEATURES)
        assert frame.dtypes.map(lambda t: np.issubdtype(t, np.number)).all(), "a header row slipped in"
        assert counts[f"rows_{name}"] == len(frame)
    assert counts["rows_read"] == 5000
    assert counts["rows_kept"] + counts["rows_dropped"] == counts["rows_read"]
    assert sum(len(f) for f in splits.values()) == counts["rows_kept"]
    assert counts["rows_dropped.non_positive_distance"] > 0
    assert counts["rows_dropped.negative_fare"] > 0
    # 10 % test, 10 % validation by default.
    assert abs(len(splits["test"]) - 0.1 * counts["rows_kept"]) <= 1
    assert abs(len(splits["validation"]) - 0.1 * counts["rows_kept"]) <= 1


def test_rows_are_cleaned_and_featurised(pipeline) -> None:
    frame = pd.concat([read_split(pipeline.base, n) for n in ("train", "validation", "test")])
    frame.columns = ["duration_minutes", *FEATURES]
    assert frame["duration_minutes"].between(1, 180).all()
    assert (frame["trip_distance"] > 0).all() and (frame["trip_distance"] <= 100).all()
    assert frame["PULocationID"].between(1, 265).all()
    assert frame.notna().all().all()
    assert frame["pickup_hour"].between(0, 23).all() and frame["pickup_weekday"].between(0, 6).all()
    assert set(frame["is_weekend"]) == {0, 1}
    np.testing.assert_array_equal(frame["is_weekend"], (frame["pickup_weekday"] >= 5).astype(float))
    np.testing.assert_allclose(frame["hour_sin"] ** 2 + frame["hour_cos"] ** 2, 1.0, atol=1e-8)
    airport = frame["PULocationID"].isin([1, 132, 138]) | frame["DOLocationID"].isin([1, 132, 138])
    np.testing.assert_array_equal(frame["is_airport_trip"], airport.astype(float))


def test_clean_drops_each_kind_of_impossible_trip() -> None:
    t0 = pd.Timestamp("2024-01-10 08:00")
    rows = [  # (reason or None, minutes, miles, PU, DO, passengers, fare)
        (None, 12.0, 2.0, 161, 237, 1.0, 14.0),
        (None, 40.0, 18.0, 132, 161, np.nan, 70.0),
        ("missing_required", 10.0, np.nan, 161, 237, 1.0, 10.0),
        ("dropoff_not_after_pickup", -5.0, 1.0, 161, 237, 1.0, 8.0),
        ("duration_under_1_min", 0.5, 0.1, 161, 161, 1.0, 3.0),
        ("duration_over_3_h", 25 * 60.0, 3.0, 161, 237, 1.0, 20.0),
        ("non_positive_distance", 10.0, 0.0, 161, 237, 1.0, 10.0),
        ("distance_over_100_mi", 170.0, 150.0, 161, 237, 1.0, 300.0),
        ("invalid_location", 10.0, 2.0, 0, 237, 1.0, 10.0),
        ("implausible_speed", 10.0, 60.0, 161, 1, 1.0, 200.0),
        ("negative_fare", 10.0, 2.0, 161, 237, 1.0, -12.0),
        ("invalid_passenger_count", 10.0, 2.0, 161, 237, 12.0, 12.0),
    ]
    frame = pd.DataFrame(
        {
            "pickup": [t0] * len(rows),
            "dropoff": [t0 + pd.Timedelta(minutes=r[1]) for r in rows],
            "trip_distance": [r[2] for r in rows],
            "PULocationID": [float(r[3]) for r in rows],
            "DOLocationID": [float(r[4]) for r in rows],
            "passenger_count": [r[5] for r in rows],
            "fare_amount": [r[6] for r in rows],
        }
    )
    kept, dropped = preprocess.clean(frame)
    assert {reason: count for reason, count in dropped.items() if count} == {
        r[0]: 1 for r in rows if r[0] is not None
    }
    assert kept["trip_distance"].tolist() == [2.0, 18.0]
    assert kept["duration_minutes"].tolist() == [12.0, 40.0]
    features = preprocess.featurise(kept)
    assert features["passenger_count"].tolist() == [1.0, 1.0]  # unknown count imputed
    assert features["is_airport_trip"].tolist() == [0.0, 1.0]


def real_like_files(folder: Path) -> int:
    """Files shaped like the real TLC downloads rather than like our generator's output."""
    folder.mkdir(parents=True)
    month = generate_month(2025, 2, 3000, seed=21)
    month = month.rename(columns={"Airport_fee": "airport_fee"})  # 2025 files spell it lowercase
    for col in ("tpep_pickup_datetime", "tpep_dropoff_datetime"):
        month[col] = month[col].astype("datetime64[ns]")  # older files carry ns timestamps
    month["PULocationID"] = month["PULocationID"].astype("Int64")
    month.loc[month.index[:7], "PULocationID"] = pd.NA
    month["cbd_congestion_fee"] = 0.75  # a column added in 2025
    month.iloc[:2000].to_parquet(folder / "yellow_tripdata_2025-02.parquet", index=False)
    # The same schema as CSV, the way the TLC used to publish it: string timestamps, lowercase ids.
    tail = month.iloc[2000:].rename(columns={"PULocationID": "pulocationid", "DOLocationID": "dolocationid"})
    (folder / "older").mkdir()
    tail.to_csv(folder / "older" / "yellow_tripdata_2025-02.csv", index=False)
    return len(month)


def test_real_tlc_variations_are_accepted(tmp_path: Path) -> None:
    total = real_like_files(tmp_path / "input" / "data")
    result = run_script(
        "preprocess.py", tmp_path, ["--test-fraction", "0.2"], SM_PROCESSING_BASE_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    counts = counters(result.stdout)
    assert counts["rows_read"] == total
    assert counts["rows_dropped.missing_required"] == 7
    assert counts["rows_kept"] > 0.95 * total
    test = read_split(tmp_path, "test")
    assert abs(len(test) - 0.2 * counts["rows_kept"]) <= 1
    assert read_split(tmp_path, "train").shape[1] == 1 + len(FEATURES)


def test_same_seed_same_split_other_seed_other_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(generate_month(2024, 6, 1500, seed=2), tmp_path / "input" / "data" / "m.parquet")
    monkeypatch.setenv("SM_PROCESSING_BASE_DIR", str(tmp_path))
    outputs = []
    for seed in ("1", "1", "2"):
        assert preprocess.main(["--seed", seed]) == 0
        outputs.append({n: (tmp_path / n / f"{n}.csv").read_bytes() for n in ("train", "validation", "test")})
    assert outputs[0] == outputs[1]
    assert outputs[0]["test"] != outputs[2]["test"]
    # Same rows overall, only assigned differently.
    assert sorted(b"".join(outputs[0].values()).splitlines()) == sorted(
        b"".join(outputs[2].values()).splitlines()
    )


def test_sample_rows_caps_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(generate_month(2024, 6, 1500, seed=2), tmp_path / "input" / "data" / "m.parquet")
    monkeypatch.setenv("SM_PROCESSING_BASE_DIR", str(tmp_path))
    assert (
        preprocess.main(["--sample-rows", "500", "--test-fraction", "0.2", "--validation-fraction", "0"]) == 0
    )
    sizes = {
        n: len((tmp_path / n / f"{n}.csv").read_text().splitlines()) for n in ("train", "validation", "test")
    }
    assert sizes == {"train": 400, "validation": 0, "test": 100}


def test_no_input_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "input" / "data").mkdir(parents=True)
    (tmp_path / "input" / "data" / "notes.txt").write_text("not data")
    out = tmp_path / "output"
    result = run_script(
        "preprocess.py", tmp_path, SM_PROCESSING_BASE_DIR=str(tmp_path), SM_OUTPUT_DIR=str(out)
    )
    assert result.returncode == 1
    assert "no .parquet or .csv files" in result.stderr
    assert "no .parquet or .csv files" in (out / "message").read_text()
    assert not (tmp_path / "train").exists()


def test_missing_required_column_is_a_clear_error(tmp_path: Path) -> None:
    month = generate_month(2024, 1, 200, seed=1).drop(columns=["trip_distance"])
    write_parquet(month, tmp_path / "input" / "data" / "m.parquet")
    out = tmp_path / "output"
    result = run_script(
        "preprocess.py", tmp_path, SM_PROCESSING_BASE_DIR=str(tmp_path), SM_OUTPUT_DIR=str(out)
    )
    assert result.returncode == 1
    assert "missing required column(s) trip_distance" in result.stderr
    assert "m.parquet" in (out / "message").read_text()


@pytest.mark.parametrize(
    "args", [["--test-fraction", "1.5"], ["--test-fraction", "0.5", "--validation-fraction", "0.5"]]
)
def test_bad_fractions_are_refused(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        preprocess.parse_args(args)
    assert exit_info.value.code == 2
