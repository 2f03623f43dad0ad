"""The online store answers what the offline features were at any prediction time (Feast's
pattern, one set of definitions), updates incrementally, and refuses late-arriving events."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabstudy.config import SplitConfig
from tabstudy.data.store import StoreError, read_meta
from tabstudy.studies.flights import features, history, ingest, legs, materialize, online
from tabstudy.studies.flights.config import FlightsFeatures, FlightsTarget

TARGET = FlightsTarget(delay_minutes=15, unresolved="drop")
CFG = FlightsFeatures(
    horizon_hours=2, outcome_margin_minutes=60, history_smoothing=20, reference_bins=10,
    slices=["carrier"], leakage_auc=0.98, allow_leaky={},
    split=SplitConfig(train_start=None, valid_start="2013-09-01", test_start="2013-11-01"),
)  # fmt: skip


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return ingest.ingest_tables(1.0, 0)


def requests(raw: pd.DataFrame) -> dict[str, list]:
    """Flights described as a person would (the request fields), from raw rows."""
    return {
        "carrier": list(raw["carrier"]),
        "flight": [int(f) for f in raw["flight"]],
        "tailnum": [t if isinstance(t, str) else None for t in raw["tailnum"]],
        "origin": list(raw["origin"]),
        "dest": list(raw["dest"]),
        "sched_dep": [datetime(*map(int, r)) for r in
                      raw[["year", "month", "day", "hour", "minute"]].itertuples(index=False)],
        "sched_arr": [time(int(s) // 100 % 24, int(s) % 100) for s in raw["sched_arr_time"]],
    }  # fmt: skip


def assert_same(got: dict[str, np.ndarray], expected: pd.DataFrame) -> None:
    """Exact for categoricals and counts, within 1e-9 for rates and measurements."""
    for f in features.FEATURE_SPEC:
        want = expected[f.name].to_numpy()
        if f.kind == "categorical":
            assert list(got[f.name]) == [str(v) for v in want], f.name
        else:
            np.testing.assert_allclose(got[f.name], want.astype(float), rtol=0, atol=1e-9,
                                       equal_nan=True, err_msg=f.name)  # fmt: skip


def test_online_features_equal_the_offline_rows(tables, tmp_path) -> None:
    """2,000 test-window flights: the store's answer at each one's prediction time equals its
    row of the features stage (the offline store), every previous-leg status among them, asked
    all at once and (50 of them) one at a time; asked
    without a tail number, a flight has no previous leg and the rest stays the same."""
    splits, _ = features.build(tables, TARGET, CFG)
    test = splits["test"]
    timed = features.schedule_times(tables["flights"])
    labelled = features.add_label(timed, TARGET.delay_minutes, TARGET.unresolved)
    raw = labelled[labelled[features.DATE_COLUMN] >= CFG.split.test_start].reset_index(drop=True)
    assert (raw[features.TIME_COLUMN].to_numpy() == test[features.TIME_COLUMN].to_numpy()).all()
    pick = np.sort(np.random.default_rng(0).choice(len(raw), 2000, replace=False))
    materialize.materialize(tables, TARGET, CFG, tmp_path / "store.sqlite", "bundle")
    store = online.FlightsOnline(tmp_path / "store.sqlite")
    assert_same(store.features(requests(raw.iloc[pick])), test.iloc[pick])
    for i in pick[:50]:  # one flight a request: the kernels' short path (history.FEW)
        assert_same(store.features(requests(raw.iloc[[i]])), test.iloc[[i]])
    assert set(test["prev_leg_status"].iloc[pick]) == set(legs.STATUSES)
    tailless = store.features({**requests(raw.iloc[pick[:200]]), "tailnum": [None] * 200})
    assert set(tailless["prev_leg_status"]) == {"none"}
    assert np.isnan(tailless["prev_leg_gap_hours"]).all()
    for name in ("hist_route_7d", "wx_temp", "distance"):
        np.testing.assert_array_equal(tailless[name], test[name].iloc[pick[:200]], err_msg=name)


def _day(frame: pd.DataFrame, column: str, day: str) -> pd.Series:
    return pd.to_datetime(frame[column], utc=True).dt.tz_convert("America/New_York").dt.strftime(
        "%Y-%m-%d") == day  # fmt: skip


def _upto(tables: dict[str, pd.DataFrame], last_day: str) -> dict[str, pd.DataFrame]:
    """Flights departing and weather observed up to ``last_day`` (local)."""
    end = pd.Timestamp(last_day) + pd.Timedelta(days=1)
    fl = tables["flights"]
    fl_day = pd.to_datetime(fl[["year", "month", "day"]])
    wx_local = pd.to_datetime(tables["weather"]["time_hour"], utc=True).dt.tz_convert(
        "America/New_York").dt.tz_localize(None)  # fmt: skip
    return {**tables, "flights": fl[fl_day < end], "weather": tables["weather"][wx_local < end]}


def test_a_day_appended_equals_a_rebuild_and_old_events_are_refused(tables, tmp_path) -> None:
    """The store holds what was known at midnight before 1 July (June's flights, those still in
    the air unresolved); then the outcomes that became known on 1 July (June's late landings
    and 1 July's flights) and that day's weather arrive. Appended, they give the same answers as
    a store rebuilt with them."""
    june, july1 = _upto(tables, "2013-06-30"), _upto(tables, "2013-07-01")
    cut = pd.Timestamp("2013-07-01", tz="America/New_York")
    timed = features.schedule_times(june["flights"])
    landing = history.outcome_known_at(timed, CFG.outcome_margin_minutes).to_numpy()
    in_air = pd.Series(landing >= cut, index=june["flights"].index)
    known = {**june, "flights": june["flights"].assign(
        arr_delay=june["flights"]["arr_delay"].mask(in_air))}  # fmt: skip
    fresh_flights = pd.concat(
        [june["flights"][in_air], july1["flights"].iloc[len(june["flights"]) :]]
    )
    fresh_weather = july1["weather"][~july1["weather"].index.isin(june["weather"].index)]
    assert in_air.sum() > 0
    inc, full = tmp_path / "inc.sqlite", tmp_path / "full.sqlite"
    materialize.materialize(known, TARGET, CFG, inc, "b")
    before = inc.stat().st_mtime_ns
    marks_before = read_meta(inc)["watermarks"]
    # July 1's flights: some previous legs were in the air at midnight
    july1_only = july1["flights"].iloc[len(june["flights"]) :]
    ask_july1 = requests(july1_only[july1_only["tailnum"].notna()])
    in_air_then = online.FlightsOnline(inc).features(ask_july1)["prev_leg_status"]
    added = materialize.append_events(inc, fresh_flights, fresh_weather)
    assert added["outcomes"] > 900 and added["weather"] == len(fresh_weather) > 60
    assert added["departures"] > 0 and inc.stat().st_mtime_ns != before
    assert added["legs"] == fresh_flights["tailnum"].notna().sum()
    materialize.materialize(july1, TARGET, CFG, full, "b")
    # the appends moved every source's watermark to where a rebuild puts it
    inc_meta, full_meta = read_meta(inc), read_meta(full)
    assert set(inc_meta["watermarks"]) == {"outcomes", "weather", "legs"}
    assert all(inc_meta["watermarks"][k] > marks_before[k] for k in marks_before)
    assert inc_meta["watermarks"] == full_meta["watermarks"]
    assert inc_meta["first_events"] == full_meta["first_events"]
    july2 = tables["flights"][(tables["flights"]["month"] == 7) & (tables["flights"]["day"] == 2)]
    for ask in (requests(july2.head(500)), ask_july1):
        a, b = online.FlightsOnline(inc).features(ask), online.FlightsOnline(full).features(ask)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # a leg stored as departed, appended again once arrived, ends up with its arrival
    landed = (in_air_then == "departed") & (b["prev_leg_status"] == "arrived")
    assert landed.sum() > 0 and not np.isnan(b["prev_leg_arr_delay"][landed]).any()
    # the same day again: every event is older than the store's newest -> refused, nothing written
    size = inc.stat().st_size
    with pytest.raises(StoreError, match=r"outcome event\(s\) are older than the store's newest"):
        materialize.append_events(inc, fresh_flights.head(50))
    with pytest.raises(StoreError, match="weather event"):
        materialize.append_events(inc, weather=june["weather"].tail(3))
    assert inc.stat().st_size == size
    # told to backfill, a late correction is taken
    late = fresh_flights.head(1).assign(arr_delay=999.0, dep_delay=0.0)
    assert materialize.append_events(inc, late, backfill=True)["outcomes"] == 1


def test_an_outcome_not_yet_known_changes_nothing_served(tables, tmp_path) -> None:
    """Leakage, online: perturb the outcome of a flight that lands after the prediction time and
    the served features stay the same; perturb one known before it and they move."""
    dec = _upto(tables, "2013-12-10")
    path = tmp_path / "s.sqlite"
    materialize.materialize(dec, TARGET, CFG, path, "b")
    flights = dec["flights"]
    query = flights[(flights["month"] == 12) & (flights["day"] == 10) & (flights["hour"] == 15)]
    ask = requests(query.head(20))
    base = online.FlightsOnline(path).features(ask)
    same_day_later = flights[(flights["month"] == 12) & (flights["day"] == 10)
                             & (flights["hour"] >= 14) & flights["arr_delay"].notna()]  # fmt: skip
    flipped = same_day_later.assign(arr_delay=np.where(same_day_later["arr_delay"] >= 15, 0, 60))
    materialize.append_events(path, flipped, backfill=True)  # replaces those flights' outcomes
    after = online.FlightsOnline(path).features(ask)
    for name in base:
        np.testing.assert_array_equal(base[name], after[name], err_msg=name)
    day9 = (flights["month"] == 12) & (flights["day"] == 9)
    earlier = flights[day9 & flights["arr_delay"].notna()]
    materialize.append_events(path, earlier.assign(arr_delay=120.0), backfill=True)
    moved = online.FlightsOnline(path).features(ask)
    assert not np.allclose(moved["hist_origin_7d"], base["hist_origin_7d"])


def test_a_missing_store_is_named(tmp_path) -> None:
    with pytest.raises(StoreError, match="no online store here"):
        online.FlightsOnline(Path(tmp_path) / "none.sqlite")
