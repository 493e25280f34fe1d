"""Synthetic NYC TLC yellow-taxi trips, one month at a time.

Why this exists: the stack must be exercised end to end without downloading the
real TLC files, yet every script downstream has to keep working when a real file
is dropped in. So the generator writes the *real* yellow-trip parquet schema
(column names and dtypes as published since 2023) with enough real structure
that a model has something to learn and a monitor has something to notice:

* 263 taxi zones (IDs 1..263) placed on a plane measured in miles, clustered by
  borough: a long, dense Manhattan strip, outer boroughs around it, Newark (1),
  JFK (132) and LaGuardia (138) far out. The Manhattan zone IDs follow the
  public TLC zone lookup; the other boroughs' IDs and all coordinates are
  synthetic and fixed (the same city for every seed and month).
* demand by weekday and hour, traffic speed by hour (rush hours slower, nights
  faster, highway trips to the airports faster), road distance from the
  straight-line distance, duration from distance and speed with noise, and
  fares from the published rate card (metered, JFK flat fare, Newark).
* a few dirty rows like the real files: zero distance, refunds with negative
  amounts, dropoff before pickup, meters left running for a day, odometer
  glitches, and the block of rows with nulls in passenger_count / RatecodeID /
  store_and_fwd_flag / congestion_surcharge / Airport_fee.
* a ``drift`` knob (0 = none, 1 = strong) that slows traffic, lengthens trips,
  moves demand toward airports and outer boroughs and later hours: things a
  data-quality monitor sees in the features and a model-quality check sees in
  the errors.
* a ``concept_shift`` knob (0 = none, 1 = strong) that only slows traffic: every
  feature keeps its distribution (the same seed gives the same features), trips
  take longer. A data-quality monitor sees nothing; only ground truth shows it.

Output is a pure function of (year, month, trips, seed, drift, concept_shift).

Usable as ``python -m training.datagen ...`` or as a plain file; stdlib,
numpy, pandas and pyarrow only.
"""

from __future__ import annotations

import argparse
import calendar
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_ZONES = 263
EWR, JFK, LGA = 1, 132, 138
AIRPORTS = (EWR, JFK, LGA)

# Manhattan zone IDs as in the public TLC taxi zone lookup table.
MANHATTAN_IDS = (
    4, 12, 13, 24, 41, 42, 43, 45, 48, 50, 68, 74, 75, 79, 87, 88, 90, 100, 103, 104, 105, 107, 113,
    114, 116, 120, 125, 127, 128, 137, 140, 141, 142, 143, 144, 148, 151, 152, 153, 158, 161, 162, 163,
    164, 166, 170, 186, 194, 202, 209, 211, 224, 229, 230, 231, 232, 233, 234, 236, 237, 238, 239, 243,
    244, 246, 249, 261, 262, 263,
)  # fmt: skip

BOROUGHS = ("Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island", "EWR")
MANHATTAN, BROOKLYN, QUEENS, BRONX, STATEN, NEWARK = range(6)

# Column order and dtypes of the published yellow-trip parquet files (2023+).
SCHEMA: dict[str, str] = {
    "VendorID": "int32",
    "tpep_pickup_datetime": "datetime64[us]",
    "tpep_dropoff_datetime": "datetime64[us]",
    "passenger_count": "float64",
    "trip_distance": "float64",
    "RatecodeID": "float64",
    "store_and_fwd_flag": "str",
    "PULocationID": "int32",
    "DOLocationID": "int32",
    "payment_type": "int64",
    "fare_amount": "float64",
    "extra": "float64",
    "mta_tax": "float64",
    "tip_amount": "float64",
    "tolls_amount": "float64",
    "improvement_surcharge": "float64",
    "total_amount": "float64",
    "congestion_surcharge": "float64",
    "Airport_fee": "float64",
}

# Relative demand by hour of day (0..23).
_WEEKDAY_DEMAND = np.array(
    [0.35, 0.20, 0.12, 0.08, 0.07, 0.12, 0.35, 0.70, 0.90, 0.90, 0.85, 0.88,
     0.95, 0.95, 1.00, 1.05, 1.05, 1.10, 1.20, 1.15, 1.05, 1.00, 0.90, 0.60]
)  # fmt: skip
_WEEKEND_DEMAND = np.array(
    [0.80, 0.70, 0.50, 0.35, 0.20, 0.12, 0.12, 0.20, 0.35, 0.50, 0.70, 0.85,
     0.95, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 0.95, 0.95, 0.95, 0.90]
)  # fmt: skip
# Relative demand by weekday, Monday first.
_DAY_DEMAND = np.array([0.92, 0.97, 1.0, 1.08, 1.12, 1.02, 0.85])

# City-street speed in mph by hour: rush hours crawl, nights flow.
_WEEKDAY_SPEED = np.array(
    [17.0, 18.5, 19.5, 20.0, 20.0, 18.0, 14.0, 10.5, 9.0, 9.5, 10.0, 10.0,
     9.8, 9.8, 9.5, 9.0, 8.5, 8.5, 9.0, 10.5, 12.0, 13.5, 14.5, 15.5]
)  # fmt: skip
_WEEKEND_SPEED = np.array(
    [16.0, 17.0, 18.0, 19.0, 20.0, 20.0, 19.0, 17.5, 16.0, 14.0, 12.5, 11.5,
     11.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.5, 12.0, 12.5, 13.0, 14.0, 15.0]
)  # fmt: skip

_ZONE_SEED = 20_240_101  # the synthetic city is fixed: it must not change with the month's seed


def _zone_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (borough, x, y, pickup popularity) arrays indexed by zone ID (index 0 unused).

    Coordinates are miles; Midtown Manhattan is near (0, 2).
    """
    rng = np.random.default_rng(_ZONE_SEED)
    ids = np.arange(N_ZONES + 1)
    borough = np.full(N_ZONES + 1, -1)
    borough[list(MANHATTAN_IDS)] = MANHATTAN
    borough[EWR] = NEWARK
    borough[[JFK, LGA]] = QUEENS
    rest = ids[(ids >= 1) & (borough == -1)]
    borough[rest] = rng.choice([BROOKLYN, QUEENS, BRONX, STATEN], size=rest.size, p=[0.33, 0.36, 0.22, 0.09])

    centers = {
        BROOKLYN: ((2.0, -6.0), (2.2, 2.2)),
        QUEENS: ((8.0, 0.0), (2.8, 2.8)),
        BRONX: ((3.0, 11.0), (1.8, 1.8)),
        STATEN: ((-6.0, -12.0), (2.0, 2.0)),
    }
    x = np.zeros(N_ZONES + 1)
    y = np.zeros(N_ZONES + 1)
    man = borough == MANHATTAN
    # Manhattan: a narrow island about 12 miles long, most zones in Midtown/Downtown.
    x[man] = rng.normal(0.0, 0.55, man.sum())
    y[man] = np.clip(rng.normal(1.5, 2.2, man.sum()), -4.0, 8.5)
    for b, ((cx, cy), (sx, sy)) in centers.items():
        sel = borough == b
        x[sel] = rng.normal(cx, sx, sel.sum())
        y[sel] = rng.normal(cy, sy, sel.sum())
    x[EWR], y[EWR] = -10.0, -3.0
    x[JFK], y[JFK] = 12.0, -7.0
    x[LGA], y[LGA] = 6.0, 4.0

    pop = rng.lognormal(0.0, 0.9, N_ZONES + 1)
    pop[0] = 0.0
    return borough, x, y, pop


_BOROUGH, _X, _Y, _POP = _zone_layout()
_IS_AIRPORT = np.isin(np.arange(N_ZONES + 1), AIRPORTS)


def _pickup_weights(drift: float) -> np.ndarray:
    """Pickup probability per zone; drift moves demand toward airports and outer boroughs."""
    share = {MANHATTAN: 0.86, BROOKLYN: 0.025, QUEENS: 0.02, BRONX: 0.008, STATEN: 0.001, NEWARK: 0.001}
    w = np.zeros(N_ZONES + 1)
    for b, s in share.items():
        sel = (b == _BOROUGH) & ~_IS_AIRPORT
        if sel.any():
            w[sel] = s * _POP[sel] / _POP[sel].sum()
    w[JFK], w[LGA] = 0.045, 0.035
    outer = (_BOROUGH != MANHATTAN) | _IS_AIRPORT
    w[outer] *= 1.0 + 2.0 * drift
    return w / w.sum()


def _dropoff_cdf(drift: float) -> np.ndarray:
    """Row-wise CDF of P(dropoff | pickup), offset by the row index so one searchsorted serves all rows."""
    attract = np.zeros(N_ZONES + 1)
    share = {MANHATTAN: 0.75, BROOKLYN: 0.08, QUEENS: 0.06, BRONX: 0.03, STATEN: 0.004, NEWARK: 0.0}
    for b, s in share.items():
        sel = (b == _BOROUGH) & ~_IS_AIRPORT
        if sel.any():
            attract[sel] = s * _POP[sel] / _POP[sel].sum()
    attract[EWR], attract[JFK], attract[LGA] = 0.006, 0.03, 0.03

    dist = np.hypot(_X[:, None] - _X[None, :], _Y[:, None] - _Y[None, :])
    # How far people ride: short hops in Manhattan, long rides out of airports.
    reach = np.where(_BOROUGH == MANHATTAN, 2.0, 5.0)
    reach[list(AIRPORTS)] = 25.0
    reach = reach * (1.0 + 0.5 * drift)
    p = attract[None, :] * np.exp(-dist / reach[:, None])
    p[0, :] = 0.0
    p[0, 1] = 1.0  # unused row, kept well-formed
    p /= p.sum(axis=1, keepdims=True)
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    return cdf + np.arange(N_ZONES + 1)[:, None]


def _sample_pickup_times(rng: np.random.Generator, year: int, month: int, n: int, drift: float) -> np.ndarray:
    """Pickup instants (int64 seconds since epoch) following the weekday/hour demand profile."""
    days = calendar.monthrange(year, month)[1]
    start = np.datetime64(f"{year:04d}-{month:02d}-01T00:00:00", "s")
    weekday = (np.arange(days) + calendar.weekday(year, month, 1)) % 7
    hourly = np.where((weekday >= 5)[:, None], _WEEKEND_DEMAND[None, :], _WEEKDAY_DEMAND[None, :])
    # Drift shifts demand toward the evening and night.
    evening = np.clip((np.arange(24) - 15) / 8.0, 0.0, 1.0)
    hourly = hourly * (1.0 + 1.5 * drift * evening)[None, :] * _DAY_DEMAND[weekday][:, None]
    p = hourly.ravel() / hourly.sum()
    slot = rng.choice(p.size, size=n, p=p)
    offset = slot * 3600 + rng.integers(0, 3600, size=n)
    return start.astype("int64") + np.sort(offset)


def generate_month(year: int, month: int, trips: int, seed: int, drift: float = 0.0,
                   concept_shift: float = 0.0) -> pd.DataFrame:
    """Generate one month of yellow-taxi trips in the TLC parquet schema.

    The frame is sorted by pickup time; identical arguments give an identical frame.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    if not 1900 <= year <= 9999:
        raise ValueError(f"year must be 1900..9999, got {year}")
    if trips < 0:
        raise ValueError(f"trips must be >= 0, got {trips}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be within [0, 1], got {drift}")
    if not 0.0 <= concept_shift <= 1.0:
        raise ValueError(f"concept_shift must be within [0, 1], got {concept_shift}")
    n = int(trips)
    rng = np.random.default_rng([seed, year, month])

    pickup_s = _sample_pickup_times(rng, year, month, n, drift)
    ts = pickup_s.astype("datetime64[s]")
    hour = (pickup_s // 3600) % 24
    weekday = ((pickup_s // 86400) + 3) % 7  # 1970-01-01 was a Thursday
    weekend = weekday >= 5

    pu = rng.choice(N_ZONES + 1, size=n, p=_pickup_weights(drift))
    do = np.searchsorted(_dropoff_cdf(drift).ravel(), pu + rng.random(n), side="right") - pu * (N_ZONES + 1)
    do = np.clip(do, 1, N_ZONES)

    # Road distance: straight line between jittered points inside the zones, times a detour factor.
    dx = (_X[do] + rng.normal(0, 0.35, n)) - (_X[pu] + rng.normal(0, 0.35, n))
    dy = (_Y[do] + rng.normal(0, 0.35, n)) - (_Y[pu] + rng.normal(0, 0.35, n))
    straight = np.hypot(dx, dy)
    distance = straight * rng.uniform(1.15, 1.45, n) + 0.1
    same = pu == do
    distance[same] = 0.2 + rng.exponential(0.7, same.sum())
    distance *= 1.0 + 0.15 * drift
    distance = np.round(distance, 2)

    # Speed: hour profile, faster on highways (airports, outer boroughs), slower inside Manhattan.
    speed = np.where(weekend, _WEEKEND_SPEED[hour], _WEEKDAY_SPEED[hour])
    airport_trip = _IS_AIRPORT[pu] | _IS_AIRPORT[do]
    both_manhattan = (_BOROUGH[pu] == MANHATTAN) & (_BOROUGH[do] == MANHATTAN)
    speed = speed * np.where(airport_trip, 2.5, np.where(both_manhattan, 0.9, 1.4))
    speed = speed * rng.lognormal(0.0, 0.18, n) * (1.0 - 0.25 * drift) * (1.0 - 0.4 * concept_shift)
    minutes = distance / speed * 60.0 + 1.0 + rng.exponential(1.0, n)
    duration_s = np.round(minutes * 60.0).astype("int64")
    dropoff_s = pickup_s + duration_s

    vendor = np.where(rng.random(n) < 0.76, 2, 1).astype("int32")
    passengers = rng.choice([0, 1, 2, 3, 4, 5, 6], size=n, p=[0.01, 0.74, 0.15, 0.04, 0.02, 0.025, 0.015])
    passengers = passengers.astype("float64")
    saf = np.where((vendor == 1) & (rng.random(n) < 0.02), "Y", "N").astype(object)

    # Fares from the rate card: $3 flag drop, $3.50/mile, $0.70/min when crawling; JFK<->Manhattan flat $70.
    slow_minutes = np.clip(minutes - distance / 12.0 * 60.0, 0.0, None)
    fare = 3.0 + 3.5 * distance + 0.7 * slow_minutes * 0.5
    ratecode = np.ones(n)
    jfk_flat = ((pu == JFK) & (_BOROUGH[do] == MANHATTAN)) | ((do == JFK) & (_BOROUGH[pu] == MANHATTAN))
    fare[jfk_flat] = 70.0
    ratecode[jfk_flat] = 2.0
    newark = (pu == EWR) | (do == EWR)
    fare[newark] += 20.0
    ratecode[newark] = 3.0
    negotiated = rng.random(n) < 0.003
    ratecode[negotiated] = 5.0
    fare[negotiated] = np.round(rng.uniform(20, 120, negotiated.sum()))
    fare = np.round(fare, 2)

    weekday_rush = ~weekend & (hour >= 16) & (hour < 20)
    overnight = (hour >= 20) | (hour < 6)
    extra = np.where(weekday_rush, 2.5, 0.0) + np.where(overnight, 1.0, 0.0)
    mta_tax = np.full(n, 0.5)
    improvement = np.full(n, 1.0)
    congestion = np.where((_BOROUGH[pu] == MANHATTAN) | (_BOROUGH[do] == MANHATTAN), 2.5, 0.0)
    airport_fee = np.where((pu == JFK) | (pu == LGA), 1.75, 0.0)
    crosses = (_BOROUGH[pu] != _BOROUGH[do]) & (rng.random(n) < 0.45)
    tolls = np.where(crosses, 6.94, 0.0) + np.where(newark, 17.38 - 6.94 * crosses, 0.0)
    tolls = np.round(tolls, 2)

    payment = rng.choice([1, 2, 3, 4], size=n, p=[0.78, 0.19, 0.02, 0.01]).astype("int64")
    pre_tip = fare + extra + mta_tax + improvement + congestion + airport_fee + tolls
    tip_pct = rng.choice([0.0, 0.15, 0.2, 0.25, 0.3], size=n, p=[0.12, 0.15, 0.43, 0.2, 0.1])
    tip = np.where(payment == 1, np.round(pre_tip * tip_pct * rng.uniform(0.9, 1.1, n), 2), 0.0)
    total = np.round(pre_tip + tip, 2)

    # The real files' block of rows with unknown rate code and passenger count (payment_type 0).
    unknown = rng.random(n) < 0.03
    passengers[unknown] = np.nan
    ratecode[unknown] = np.nan
    saf[unknown] = None
    congestion_out = congestion.copy()
    congestion_out[unknown] = np.nan
    airport_out = airport_fee.copy()
    airport_out[unknown] = np.nan
    payment[unknown] = 0

    # Dirty rows, like the real data.
    u = rng.random(n)
    zero_dist = u < 0.01
    distance[zero_dist] = 0.0
    refund = (u >= 0.01) & (u < 0.015)
    payment[refund] = 4
    tip[refund] = 0.0
    money = [fare, extra, mta_tax, tolls, improvement, congestion_out, airport_out]
    for col in money:
        col[refund] = -np.abs(col[refund])
    total[refund] = -np.abs(np.round(pre_tip[refund], 2))
    backwards = (u >= 0.015) & (u < 0.0155)
    dropoff_s[backwards] = pickup_s[backwards] - rng.integers(60, 3600, backwards.sum())
    meter_left_on = (u >= 0.0155) & (u < 0.0165)
    dropoff_s[meter_left_on] = pickup_s[meter_left_on] + rng.integers(
        20 * 3600, 30 * 3600, meter_left_on.sum()
    )
    odometer = (u >= 0.0165) & (u < 0.017)
    distance[odometer] = np.round(rng.uniform(150, 20_000, odometer.sum()), 2)

    frame = pd.DataFrame(
        {
            "VendorID": vendor,
            "tpep_pickup_datetime": ts.astype("datetime64[us]"),
            "tpep_dropoff_datetime": dropoff_s.astype("datetime64[s]").astype("datetime64[us]"),
            "passenger_count": passengers,
            "trip_distance": distance,
            "RatecodeID": ratecode,
            "store_and_fwd_flag": pd.array(saf, dtype="str"),
            "PULocationID": pu.astype("int32"),
            "DOLocationID": do.astype("int32"),
            "payment_type": payment,
            "fare_amount": fare,
            "extra": extra,
            "mta_tax": mta_tax,
            "tip_amount": tip,
            "tolls_amount": tolls,
            "improvement_surcharge": improvement,
            "total_amount": total,
            "congestion_surcharge": congestion_out,
            "Airport_fee": airport_out,
        }
    )
    return frame.astype(SCHEMA)


def write_parquet(frame: pd.DataFrame, out: Path) -> None:
    """Write a frame as parquet with microsecond timestamps, as the TLC publishes them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(
        out, index=False, engine="pyarrow", coerce_timestamps="us", allow_truncated_timestamps=False
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate one month of synthetic NYC yellow-taxi trips.")
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--month", type=int, required=True)
    parser.add_argument("--trips", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drift", type=float, default=0.0, help="0 = none, 1 = strong")
    parser.add_argument("--concept-shift", type=float, default=0.0,
                        help="slower traffic, same features: 0 = none, 1 = strong")
    parser.add_argument("--out", type=Path, required=True, help="parquet file to write")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        frame = generate_month(args.year, args.month, args.trips, args.seed, args.drift, args.concept_shift)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_parquet(frame, args.out)
    print(f"wrote {len(frame)} trips to {args.out} in {time.perf_counter() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
