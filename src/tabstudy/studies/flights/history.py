"""Point-in-time historical delay rates.

A flight's outcome (late or not) becomes known when it has arrived. We take that moment
conservatively as ``actual departure + air time + margin`` (``features.outcome_margin_minutes``,
default 60), so a rate never counts a flight that had not landed yet. For a prediction at time
``t`` the rate of a group (route, carrier, origin) over a window ``W`` counts the flights of that
group whose outcome became known in ``[t - W, t)``. Rates are smoothed toward the overall rate of
the same window, so small groups do not produce extreme values:

    rate = (late + m * overall_rate) / (count + m)

Everything is vectorised: events are sorted once per (group, time) and each query is two binary
searches into cumulative sums, so 336,776 flights x 6 rates take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WINDOWS_DAYS: tuple[int, ...] = (7, 28)
GROUPS: dict[str, tuple[str, ...]] = {
    "route": ("origin", "dest"),
    "carrier": ("carrier",),
    "origin": ("origin",),
}
# larger than any time range in seconds, so (group, time) sorts as one integer key
_SPAN = np.int64(1) << np.int64(40)

FEW = 64
"""Up to this many queries the kernels shared by the offline build and the online store take
a short path (a service's single rows): no sorting, grouping or index building that pays only
for large batches. Both paths give the same values (tested)."""


@dataclass(frozen=True)
class Events:
    """Resolved flights as history events: group code, time known (s), late flag."""

    codes: np.ndarray
    times: np.ndarray
    late: np.ndarray


def outcome_known_at(flights: pd.DataFrame, margin_minutes: float) -> pd.Series:
    """When each flight's outcome is known: actual departure + air time + margin (NaT if none)."""
    minutes = flights["dep_delay"] + flights["air_time"] + margin_minutes
    return flights["sched_dep_utc"] + pd.to_timedelta(minutes, unit="min")


def seconds(times: pd.Series) -> np.ndarray:
    """UTC times as integer seconds since the epoch."""
    return times.astype("datetime64[ns, UTC]").astype("int64").to_numpy() // 10**9


def group_codes(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """An integer code per distinct combination of ``columns`` (vectorised)."""
    return frame.groupby(list(columns), sort=True, dropna=False).ngroup().to_numpy(dtype="int64")


@dataclass(frozen=True)
class EventIndex:
    """Events sorted by (group code, time) with cumulative late counts: the events of a group
    in a time window are two binary searches away. Built once; the offline build and the online
    store both query it (:func:`rates`)."""

    keys: np.ndarray
    cum: np.ndarray

    @classmethod
    def build(cls, events: Events) -> EventIndex:
        """Sort ``events`` once by (group, time)."""
        order = np.lexsort((events.times, events.codes))
        keys = events.codes[order] * _SPAN + events.times[order]
        return cls(keys, np.concatenate([[0], np.cumsum(events.late[order])]))

    def counts(
        self, q_codes: np.ndarray, q_times: np.ndarray, window_s: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Events and late events with the query's group and time in ``[t - window, t)``.

        The queries are searched in sorted order and the answers put back in the caller's
        order: binary searches for queries in random order miss the CPU cache at every probe
        once the index outgrows it, which made the rates superlinear in the flights (2.5x
        slower at ten years, ``benchmarks/scale.py``); in order, consecutive searches touch
        neighbouring keys.
        """
        needles = np.asarray(q_codes * _SPAN + q_times, dtype="int64")
        if len(needles) <= FEW:
            hi = np.searchsorted(self.keys, needles, side="left")
            lo = np.searchsorted(self.keys, needles - window_s, side="left")
            return hi - lo, self.cum[hi] - self.cum[lo]
        order = np.argsort(needles, kind="stable")
        ordered = needles[order]
        hi = np.empty(len(needles), dtype="int64")
        lo = np.empty(len(needles), dtype="int64")
        hi[order] = np.searchsorted(self.keys, ordered, side="left")
        lo[order] = np.searchsorted(self.keys, ordered - window_s, side="left")
        return hi - lo, self.cum[hi] - self.cum[lo]


def window_counts(
    events: Events, q_codes: np.ndarray, q_times: np.ndarray, window_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """Events and late events with the query's group and time in ``[t - window, t)``."""
    return EventIndex.build(events).counts(q_codes, q_times, window_s)


def smoothed(late: np.ndarray, count: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Shrink a rate toward ``prior``; NaN where there is no prior yet (start of the data)."""
    return (late + strength * prior) / (count + strength)


def rates(
    indexes: dict[str, EventIndex],
    q_codes: dict[str, np.ndarray],
    q_times: np.ndarray,
    strength: float,
) -> dict[str, np.ndarray]:
    """The ``hist_*`` features of queries at times ``q_times`` (seconds): for each window, each
    group's smoothed late rate toward the overall rate (group ``"all"``, code 0), and the
    route's flight count over the longest window. A query whose group has no events (code -1 or
    unseen) gets the overall rate. This is the one definition the offline build
    (:func:`add_history_rates`) and the online store share."""
    out: dict[str, np.ndarray] = {}
    for days in WINDOWS_DAYS:
        w = days * 86400
        n_all, late_all = indexes["all"].counts(q_codes["all"], q_times, w)
        prior = np.where(n_all > 0, late_all / np.maximum(n_all, 1), np.nan)
        for name in GROUPS:
            n, late = indexes[name].counts(q_codes[name], q_times, w)
            out[f"hist_{name}_{days}d"] = smoothed(late, n, prior, strength)
            if name == "route" and days == max(WINDOWS_DAYS):
                out[f"hist_route_{days}d_n"] = n.astype("float64")
    return out


def add_history_rates(
    flights: pd.DataFrame, margin_minutes: float, strength: float
) -> pd.DataFrame:
    """Add ``hist_<group>_<W>d`` rates (and ``hist_route_28d_n``) as of each prediction time.

    ``flights`` needs ``sched_dep_utc``, ``prediction_time``, ``dep_delay``, ``air_time``,
    ``arr_delay``, the label ``y`` and the group columns. Only resolved flights (arrival delay
    known) are history events.
    """
    out = flights.copy()
    resolved = resolved_mask(out)
    ev_times = seconds(outcome_known_at(out.loc[resolved], margin_minutes))
    ev_late = out.loc[resolved, "y"].to_numpy(dtype="int64")
    q_times = seconds(out["prediction_time"])
    codes = {name: group_codes(out, cols) for name, cols in GROUPS.items()}
    codes["all"] = np.zeros(len(out), dtype="int64")
    indexes = {name: EventIndex.build(Events(c[resolved], ev_times, ev_late))
               for name, c in codes.items()}  # fmt: skip
    for name, values in rates(indexes, codes, q_times, strength).items():
        out[name] = values
    return out


def resolved_mask(flights: pd.DataFrame) -> np.ndarray:
    """Flights whose outcome is known (arrival delay, air time and departure delay present):
    the history events."""
    return (
        flights["arr_delay"].notna() & flights["air_time"].notna() & flights["dep_delay"].notna()
    ).to_numpy()


def naive_history_rate(
    flights: pd.DataFrame,
    index: int,
    group: tuple[str, ...],
    days: int,
    margin_minutes: float,
    strength: float,
) -> float:
    """The same rate for one flight by brute force (for tests and the benchmark's baseline)."""
    row = flights.iloc[index]
    t = row["prediction_time"]
    known = outcome_known_at(flights, margin_minutes)
    in_window = known.notna() & (known < t) & (known >= t - pd.Timedelta(days=days))
    all_n = int(in_window.sum())
    if all_n == 0:
        return float("nan")
    prior = flights.loc[in_window, "y"].mean()
    same = in_window.copy()
    for col in group:
        same &= flights[col] == row[col]
    return float((flights.loc[same, "y"].sum() + strength * prior) / (same.sum() + strength))
