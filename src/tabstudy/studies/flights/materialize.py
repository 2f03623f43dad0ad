"""The flights study's tables in the online store: built from the raw tables
(:func:`materialize`, the materialize stage) and appended to in place (:func:`append_events`).

The offline half of the store: it runs the same feature definitions as the features stage
(:mod:`.features`, :mod:`.history`, :mod:`.legs`) and writes through :mod:`tabstudy.data.store`;
the service reads the tables back with :class:`.online.FlightsOnline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabstudy.data import store
from tabstudy.studies.flights import features, history, legs
from tabstudy.studies.flights.config import FlightsFeatures, FlightsTarget

OUTCOME_KEY = ["carrier", "flight", "origin", "sched_dep_utc"]  # one event per flight


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
