"""The synthetic TLC generator: schema, determinism, realism, dirt and the drift knob."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from training_helpers import job_env

from training.datagen import JFK, LGA, MANHATTAN_IDS, SCHEMA, generate_month


@pytest.fixture(scope="module")
def month() -> pd.DataFrame:
    return generate_month(2024, 1, 40_000, seed=7)


def minutes(frame: pd.DataFrame) -> pd.Series:
    return (frame["tpep_dropoff_datetime"] - frame["tpep_pickup_datetime"]).dt.total_seconds() / 60.0


def test_same_arguments_give_the_same_frame() -> None:
    pd.testing.assert_frame_equal(
        generate_month(2024, 1, 3000, seed=7), generate_month(2024, 1, 3000, seed=7)
    )


@pytest.mark.parametrize(("year", "month", "seed"), [(2024, 1, 8), (2024, 2, 7), (2023, 1, 7)])
def test_another_seed_or_month_gives_another_frame(year: int, month: int, seed: int) -> None:
    reference = generate_month(2024, 1, 3000, seed=7)
    other = generate_month(year, month, 3000, seed=seed)
    assert not reference["trip_distance"].equals(other["trip_distance"])
    assert not reference["tpep_pickup_datetime"].equals(other["tpep_pickup_datetime"])


def test_columns_and_dtypes_follow_the_tlc_schema(month: pd.DataFrame) -> None:
    assert list(month.columns) == list(SCHEMA)
    expected = {
        "VendorID": "int32",
        "tpep_pickup_datetime": "datetime64[us]",
        "tpep_dropoff_datetime": "datetime64[us]",
        "PULocationID": "int32",
        "DOLocationID": "int32",
        "payment_type": "int64",
    }
    for column, dtype in expected.items():
        assert str(month[column].dtype) == dtype, column
    floats = [c for c in SCHEMA if SCHEMA[c] == "float64"]
    assert all(month[c].dtype == np.float64 for c in floats)
    assert pd.api.types.is_string_dtype(month["store_and_fwd_flag"])
    assert set(month["store_and_fwd_flag"].dropna()) == {"N", "Y"}
    for nullable in (
        "passenger_count",
        "RatecodeID",
        "store_and_fwd_flag",
        "congestion_surcharge",
        "Airport_fee",
    ):
        assert 0 < month[nullable].isna().mean() < 0.1, nullable
    assert month["PULocationID"].between(1, 263).all() and month["DOLocationID"].between(1, 263).all()
    assert month["PULocationID"].nunique() > 200


def test_parquet_from_the_cli_keeps_the_schema(tmp_path) -> None:
    out = tmp_path / "month.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "training.datagen", "--year", "2024", "--month", "2", "--trips", "2000",
         "--seed", "3", "--drift", "0.5", "--out", str(out)],
        capture_output=True, text=True, env=job_env(), timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    schema = pq.read_schema(out)
    assert str(schema.field("tpep_pickup_datetime").type) == "timestamp[us]"
    assert str(schema.field("VendorID").type) == "int32"
    assert str(schema.field("payment_type").type) == "int64"
    assert "string" in str(schema.field("store_and_fwd_flag").type)
    pd.testing.assert_frame_equal(pd.read_parquet(out), generate_month(2024, 2, 2000, seed=3, drift=0.5))


def test_cli_rejects_a_bad_month(tmp_path) -> None:
    command = [sys.executable, "-m", "training.datagen", "--year", "2024", "--month", "13"]
    proc = subprocess.run(
        [*command, "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=job_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "month must be 1..12" in proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"month": 0}, "month"),
        ({"trips": -1}, "trips"),
        ({"drift": 1.5}, "drift"),
        ({"drift": -0.1}, "drift"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    args = {"year": 2024, "month": 1, "trips": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_month(**args)


def test_structure_is_taxi_like(month: pd.DataFrame) -> None:
    dur = minutes(month)
    clean = (month["trip_distance"] > 0) & (month["trip_distance"] < 100) & dur.between(1, 180)
    frame, dur = month[clean], dur[clean]
    # Most pickups in Manhattan, a few percent at each airport.
    assert frame["PULocationID"].isin(MANHATTAN_IDS).mean() > 0.75
    assert 0.02 < (frame["PULocationID"] == JFK).mean() < 0.08
    assert 0.02 < (frame["PULocationID"] == LGA).mean() < 0.08
    # JFK is far from Manhattan.
    jfk_to_manhattan = (frame["PULocationID"] == JFK) & frame["DOLocationID"].isin(MANHATTAN_IDS)
    assert frame.loc[jfk_to_manhattan, "trip_distance"].median() > 12
    assert frame["trip_distance"].median() < 4
    # Weekday rush hour is slower than the small hours.
    hour = frame["tpep_pickup_datetime"].dt.hour
    weekday = frame["tpep_pickup_datetime"].dt.day_of_week < 5
    mph = frame["trip_distance"] / (dur / 60)
    assert mph[weekday & hour.isin([8, 17])].median() < 0.7 * mph[weekday & hour.isin([2, 3, 4])].median()
    # More trips at 6 pm than at 4 am; duration and fare grow with distance.
    assert (hour == 18).sum() > 4 * (hour == 4).sum()
    assert np.corrcoef(frame["trip_distance"], dur)[0, 1] > 0.7
    metered = frame["RatecodeID"] == 1
    assert np.corrcoef(frame.loc[metered, "trip_distance"], frame.loc[metered, "fare_amount"])[0, 1] > 0.9


def test_some_rows_are_dirty_like_the_real_files(month: pd.DataFrame) -> None:
    dur = minutes(month)
    assert (month["trip_distance"] == 0).sum() > 100
    assert (month["fare_amount"] < 0).sum() > 50
    assert (dur < 0).sum() > 0
    assert (dur > 180).sum() > 0
    assert (month["trip_distance"] > 100).sum() > 0
    # The bulk stays clean.
    assert ((month["trip_distance"] > 0) & dur.between(1, 180) & (month["fare_amount"] >= 0)).mean() > 0.95


def test_drift_shifts_what_a_monitor_sees() -> None:
    frames = {d: generate_month(2024, 5, 20_000, seed=4, drift=d) for d in (0.0, 0.5, 1.0)}

    def summary(frame: pd.DataFrame) -> tuple[float, float, float, float]:
        ok = frame["trip_distance"].between(0.01, 100) & minutes(frame).between(1, 180)
        f = frame[ok]
        return (
            f["trip_distance"].median(),
            minutes(f).median(),
            f["PULocationID"].isin([JFK, LGA]).mean(),
            (f["tpep_pickup_datetime"].dt.hour >= 18).mean(),
        )

    none, half, strong = (summary(frames[d]) for d in (0.0, 0.5, 1.0))
    for i in range(4):
        assert none[i] < half[i] < strong[i], i
    assert strong[0] > 1.3 * none[0]  # trip distance
    assert strong[1] > 1.5 * none[1]  # duration: slower traffic on longer trips
    assert strong[2] > 1.8 * none[2]  # airport share


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31),
    year=st.integers(2009, 2030),
    month=st.integers(1, 12),
    trips=st.integers(0, 400),
    drift=st.floats(0.0, 1.0),
)
def test_any_month_is_well_formed_and_reproducible(
    seed: int, year: int, month: int, trips: int, drift: float
) -> None:
    frame = generate_month(year, month, trips, seed, drift)
    assert len(frame) == trips
    assert list(frame.columns) == list(SCHEMA)
    pickups = frame["tpep_pickup_datetime"]
    assert pickups.is_monotonic_increasing
    assert ((pickups.dt.year == year) & (pickups.dt.month == month)).all()
    pd.testing.assert_frame_equal(frame, generate_month(year, month, trips, seed, drift))


def test_a_concept_shift_keeps_the_features_and_slows_the_trips() -> None:
    """Same features, another relationship: what only ground truth (model quality) can show."""
    base = generate_month(2024, 3, 4000, seed=5)
    shifted = generate_month(2024, 3, 4000, seed=5, concept_shift=0.5)
    features = ["tpep_pickup_datetime", "PULocationID", "DOLocationID", "trip_distance", "passenger_count"]
    pd.testing.assert_frame_equal(base[features], shifted[features])
    assert minutes(shifted).median() > 1.15 * minutes(base).median()
