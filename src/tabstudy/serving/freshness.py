"""Feature freshness: is the online store's data recent enough for a row's prediction time?

A study's store records, per event source (the flights: ``weather``, ``outcomes``, ``legs``), its
first event and its watermark (the newest event). A row whose prediction time lies more than
``serve.max_staleness_hours.<source>`` past that source's watermark, or before its first event,
is served from data the store does not have: its weather is missing, its history rates fall back
to the prior, its previous leg is unknown. The service says so (``stale`` in the response, a
count in ``tabstudy_stale_features_total{source}``, a field in the request log) or, with
``serve.staleness: refuse``, answers 422 naming the source, its watermark and the prediction time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabstudy.data.store import StoreError

HOUR = 3600


@dataclass(frozen=True)
class Source:
    """One event source of the store: its first event and watermark (UTC epoch seconds; None
    when unknown), and how far past the watermark a prediction may lie (seconds)."""

    name: str
    first: int | None
    watermark: int
    max_age: int

    def stale(self, times: np.ndarray) -> np.ndarray:
        """Which prediction ``times`` (UTC epoch seconds) this source cannot serve."""
        late = times > self.watermark + self.max_age
        return late | (times < self.first) if self.first is not None else late

    def why(self, t: int) -> str:
        """Why prediction time ``t`` is stale for this source, in words."""
        when = _iso(t)
        if self.first is not None and t < self.first:
            return (f"the prediction time {when} is before the first {self.name} event in the "
                    f"online store ({_iso(self.first)})")  # fmt: skip
        hours = (t - self.watermark) / HOUR
        return (
            f"the prediction time {when} is {hours:,.1f} h after the {self.name} watermark "
            f"{_iso(self.watermark)} (serve.max_staleness_hours.{self.name} is "
            f"{self.max_age / HOUR:g}); the store has no {self.name} data for it"
        )


def _iso(seconds: int) -> str:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").isoformat()


def sources(meta: Mapping[str, object], limits: Mapping[str, float]) -> tuple[Source, ...]:
    """The store's sources (its ``meta``: ``watermarks`` and ``first_events``) with their limits
    (``serve.max_staleness_hours``). :class:`StoreError` when a source has no limit: an
    unchecked source would go stale silently."""
    marks = dict(meta.get("watermarks") or {})  # type: ignore[call-overload]
    firsts = dict(meta.get("first_events") or {})  # type: ignore[call-overload]
    missing = sorted(set(marks) - set(limits))
    if missing:
        raise StoreError(
            f"the online store's source(s) {', '.join(missing)} have no limit: set "
            + ", ".join(f"serve.max_staleness_hours.{m}" for m in missing)
            + " in params.yaml (hours a prediction may lie past the source's newest event)"
        )
    return tuple(
        Source(name, firsts.get(name), int(mark), int(float(limits[name]) * HOUR))
        for name, mark in sorted(marks.items())
    )


def check(found: tuple[Source, ...], times: np.ndarray | None) -> dict[str, np.ndarray]:
    """The sources that are stale for some of the rows at prediction ``times``, each with the
    boolean mask of its stale rows (empty when every row is fresh, or without times)."""
    if times is None or not found:
        return {}
    out = {}
    for source in found:
        mask = source.stale(times)
        if mask.any():
            out[source.name] = mask
    return out


def per_row(stale: Mapping[str, np.ndarray], n: int) -> list[list[str]]:
    """Each row's stale sources, in source order (empty lists when none is stale)."""
    rows: list[list[str]] = [[] for _ in range(n)]
    for name, mask in stale.items():
        for i in np.flatnonzero(mask).tolist():
            rows[i].append(name)
    return rows


def first_refusal(
    found: tuple[Source, ...], stale: Mapping[str, np.ndarray], times: np.ndarray
) -> tuple[int, str]:
    """The first stale row and why (``serve.staleness: refuse``)."""
    by_name = {s.name: s for s in found}
    row = min(int(np.flatnonzero(mask)[0]) for mask in stale.values())
    reasons = [by_name[name].why(int(times[row])) for name, mask in stale.items() if mask[row]]
    return row, "stale features: " + "; ".join(reasons)
