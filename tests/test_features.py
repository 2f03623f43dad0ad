from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tabstudy.studies.flights import features as fe


def test_label_drops_or_counts_unresolved(tiny_tables) -> None:
    dropped = fe.add_label(tiny_tables["flights"], 15, "drop")
    assert dropped[fe.LABEL].tolist() == [0, 1]
    positive = fe.add_label(tiny_tables["flights"], 15, "positive")
    assert positive[fe.LABEL].tolist() == [0, 1, 1]


def test_weather_is_as_of_prediction_time(tiny_tables) -> None:
    flights = fe.schedule_times(fe.add_label(tiny_tables["flights"], 15, "drop"))
    out = fe.add_weather_asof(flights, tiny_tables["weather"], horizon_hours=2)
    # 05:15 local = 10:15Z, prediction at 08:15Z -> the 08:00Z observation (temp 31), 0.25 h old
    assert out.loc[0, "wx_temp"] == 31.0
    assert out.loc[0, "wx_age_hours"] == pytest.approx(0.25)
    assert (out["wx_age_hours"] >= 0).all()


def test_future_weather_does_not_change_features(tiny_tables) -> None:
    flights = fe.schedule_times(fe.add_label(tiny_tables["flights"], 15, "drop"))
    base = fe.add_weather_asof(flights, tiny_tables["weather"], 2)
    future = tiny_tables["weather"].copy()
    late = pd.to_datetime(future["time_hour"], utc=True) > base["prediction_time"].max()
    future.loc[late, "temp"] = 999.0
    changed = fe.add_weather_asof(flights, future, 2)
    pd.testing.assert_frame_equal(base, changed)


def test_stale_weather_is_missing(tiny_tables) -> None:
    flights = fe.schedule_times(fe.add_label(tiny_tables["flights"], 15, "drop"))
    out = fe.add_weather_asof(flights, tiny_tables["weather"], horizon_hours=12)
    assert out["wx_temp"].isna().all()


def test_build_features_matches_spec(tiny_tables) -> None:
    frame = fe.build_features(tiny_tables, 15, "drop", 2)
    assert list(frame.columns) == [*fe.feature_names(), fe.LABEL, fe.TIME_COLUMN, fe.DATE_COLUMN]
    assert frame["plane_age"].tolist() == [14.0, 3.0]
    # congestion counts every scheduled flight, cancelled ones included (two at 5 am at EWR)
    assert frame["origin_hour_departures"].tolist() == [2.0, 2.0]
    assert frame["weekday"].tolist() == ["1", "1"]
    # each plane flies once: no previous leg
    assert frame["prev_leg_status"].tolist() == ["none", "none"]
    assert frame["prev_leg_gap_hours"].isna().all()


def test_a_cancelled_flight_is_still_a_previous_leg(tiny_tables) -> None:
    """The 06:00 flight is cancelled (dropped from the rows) but it was the plane's next leg:
    the 09:00 flight sees it as a previous leg that never departed (pending)."""
    flights = tiny_tables["flights"].copy()
    flights.loc[2, "tailnum"] = "N14228"
    later = flights.iloc[[0]].assign(flight=99, sched_dep_time=900, hour=9, minute=0,
                                     time_hour="2013-01-01T14:00:00Z")  # fmt: skip
    frame = fe.build_features({**tiny_tables, "flights": pd.concat([flights, later])}, 15,
                              "drop", 2)  # fmt: skip
    assert len(frame) == 3
    assert frame["prev_leg_status"].tolist() == ["none", "none", "pending"]
    assert frame["prev_leg_gap_hours"].iloc[2] == 3.0
    assert np.isnan(frame["prev_leg_dep_delay"].iloc[2])


def test_no_feature_uses_post_departure_fields() -> None:
    names = {f.name for f in fe.FEATURE_SPEC}
    assert not names & set(fe.FORBIDDEN_SOURCES)
    assert fe.LABEL not in names
    assert all(f.asof for f in fe.FEATURE_SPEC)


def test_time_split_is_ordered_and_disjoint() -> None:
    days = pd.date_range("2013-01-01", "2013-12-31", freq="D")
    frame = pd.DataFrame({fe.DATE_COLUMN: days, fe.LABEL: np.zeros(len(days), dtype="int8")})
    parts = fe.time_split(frame, date(2013, 9, 1), date(2013, 11, 1))
    assert parts["train"][fe.DATE_COLUMN].max() < parts["valid"][fe.DATE_COLUMN].min()
    assert parts["valid"][fe.DATE_COLUMN].max() < parts["test"][fe.DATE_COLUMN].min()
    assert sum(len(p) for p in parts.values()) == len(frame)


def test_train_start_slides_the_training_window() -> None:
    days = pd.date_range("2013-01-01", "2013-12-31", freq="D")
    frame = pd.DataFrame({fe.DATE_COLUMN: days, fe.LABEL: np.zeros(len(days), dtype="int8")})
    parts = fe.time_split(frame, date(2013, 9, 1), date(2013, 11, 1), date(2013, 6, 1))
    assert parts["train"][fe.DATE_COLUMN].min() == pd.Timestamp("2013-06-01")
    assert len(parts["train"]) == 92  # June, July, August
    assert parts["test"][fe.DATE_COLUMN].min() == pd.Timestamp("2013-11-01")


def test_empty_split_is_an_error() -> None:
    frame = pd.DataFrame({fe.DATE_COLUMN: pd.to_datetime(["2013-01-01"]), fe.LABEL: [0]})
    with pytest.raises(ValueError, match="split 'valid' is empty"):
        fe.time_split(frame, date(2013, 9, 1), date(2013, 11, 1))
