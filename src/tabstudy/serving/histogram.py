"""A Prometheus histogram fed a whole array at once.

``prometheus_client.Histogram.observe`` takes one value: a 10,000-row batch would cost 10,000
Python calls (and lock round trips) on the request path. :class:`ArrayHistogram` counts an array
into its buckets with one ``numpy.searchsorted`` and one ``bincount`` under one lock (a single
row with ``bisect``, where numpy's call overhead would dominate), and exports
the standard ``_bucket`` / ``_count`` / ``_sum`` series through a custom collector (the client's
documented extension point), so scrapers and queries see an ordinary histogram.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from tabstudy.serving.workers import Shared

SMALL = 16
"""Arrays up to this long are counted in Python (one request's row), longer ones with numpy."""


class ArrayHistogram(Collector):
    """A histogram with fixed upper bounds ``buckets`` (``+Inf`` added), optionally one label
    whose values are known up front (``values``), registered in ``registry``.

    The counts live in one float64 array, ``(rows, values, buckets + 2)`` (the bucket counts,
    then the sum). With ``shared`` (:class:`.workers.Shared`) the array is in memory the
    service's worker processes share, one row per worker: each writes only its own row, and
    :meth:`collect` adds the rows up, so any worker's ``/metrics`` shows the whole service."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        label: str | None = None,
        values: Sequence[str] = ("",),
        shared: Shared | None = None,
    ) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = np.asarray(sorted(buckets), dtype="float64")
        self._bound_list = self.bounds.tolist()
        self.values = tuple(values) if label else ("",)
        self._index = {v: i for i, v in enumerate(self.values)}
        shape = (shared.workers if shared else 1, len(self.values), len(self.bounds) + 2)
        self._data = shared.floats(*shape) if shared else np.zeros(shape)
        self._shared = shared
        self._lock = threading.Lock()
        registry.register(self)

    def _series(self, label: str) -> np.ndarray:
        """This process's counts and sum of ``label`` (ValueError for an undeclared value)."""
        index = self._index.get(label)
        if index is None:
            raise ValueError(f"{self.name}: label value {label!r} is not one of {self.values}")
        return self._data[self._shared.worker if self._shared else 0, index]

    def observe(self, values: np.ndarray, label: str = "") -> None:
        """Count every value of ``values`` (NaN is skipped) under ``label``."""
        series = self._series(label)
        values = np.asarray(values, dtype="float64")
        if len(values) <= SMALL:  # a few values: bisect beats numpy's per-call overhead
            plain = [v for v in values.tolist() if v == v]
            slots = [bisect.bisect_left(self._bound_list, v) for v in plain]
            with self._lock:
                for slot in slots:
                    series[slot] += 1
                series[-1] += sum(plain)
            return
        values = values[~np.isnan(values)]
        if not len(values):
            return
        # le semantics: a value equal to a bound falls in that bound's bucket
        slots = np.searchsorted(self.bounds, values, side="left")
        counts = np.bincount(slots, minlength=len(self.bounds) + 1)
        total = float(values.sum())
        with self._lock:
            series[:-1] += counts
            series[-1] += total

    def collect(self) -> Iterator[Metric]:
        """The ``_bucket`` (cumulative), ``_count`` and ``_sum`` series of every label value
        (a labelled series once it has counted a value), summed over the worker rows."""
        family = HistogramMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )
        totals = self._data.sum(axis=0)
        for label, row in zip(self.values, totals, strict=True):
            cumulative = np.cumsum(row[:-1]).tolist()
            if self.label and not cumulative[-1]:
                continue
            buckets = [(_bound(b), float(n)) for b, n in zip(self.bounds, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([label] if self.label else [], buckets, float(row[-1]))
        yield family

    def describe(self) -> Iterator[Metric]:
        """The family without samples (the registry checks names on register)."""
        yield HistogramMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )


def _bound(value: float) -> str:
    """A bucket bound as prometheus_client writes it (``0.05``, ``1.0``)."""
    return floatToGoString(float(value))
