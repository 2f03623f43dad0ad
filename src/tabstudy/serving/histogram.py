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

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

SMALL = 16
"""Arrays up to this long are counted in Python (one request's row), longer ones with numpy."""


class ArrayHistogram(Collector):
    """A histogram with fixed upper bounds ``buckets`` (``+Inf`` added), optionally one label,
    registered in ``registry``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        label: str | None = None,
    ) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = np.asarray(sorted(buckets), dtype="float64")
        self._bound_list = self.bounds.tolist()
        self._series: dict[str, tuple[np.ndarray, list[float]]] = {}
        self._lock = threading.Lock()
        if label is None:
            self._series[""] = (np.zeros(len(self.bounds) + 1, dtype="int64"), [0.0])
        registry.register(self)

    def observe(self, values: np.ndarray, label: str = "") -> None:
        """Count every value of ``values`` (NaN is skipped) under ``label``."""
        values = np.asarray(values, dtype="float64")
        if len(values) <= SMALL:  # a few values: bisect beats numpy's per-call overhead
            plain = [v for v in values.tolist() if v == v]
            slots = [bisect.bisect_left(self._bound_list, v) for v in plain]
            with self._lock:
                series = self._get(label)
                for slot in slots:
                    series[0][slot] += 1
                series[1][0] += sum(plain)
            return
        values = values[~np.isnan(values)]
        if not len(values):
            return
        # le semantics: a value equal to a bound falls in that bound's bucket
        slots = np.searchsorted(self.bounds, values, side="left")
        counts = np.bincount(slots, minlength=len(self.bounds) + 1)
        total = float(values.sum())
        with self._lock:
            series = self._get(label)
            series[0][:] += counts
            series[1][0] += total

    def _get(self, label: str) -> tuple[np.ndarray, list[float]]:
        """The bucket counts and the sum of ``label`` (created empty; call under the lock)."""
        series = self._series.get(label)
        if series is None:
            series = self._series[label] = (np.zeros(len(self.bounds) + 1, "int64"), [0.0])
        return series

    def collect(self) -> Iterator[Metric]:
        """The ``_bucket`` (cumulative), ``_count`` and ``_sum`` series of every label value."""
        family = HistogramMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )
        with self._lock:
            snapshot = {k: (c.copy(), s[0]) for k, (c, s) in self._series.items()}
        for label, (counts, total) in sorted(snapshot.items()):
            cumulative = np.cumsum(counts).tolist()
            buckets = [(_bound(b), float(n)) for b, n in zip(self.bounds, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([label] if self.label else [], buckets, total)
        yield family

    def describe(self) -> Iterator[Metric]:
        """The family without samples (the registry checks names on register)."""
        yield HistogramMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )


def _bound(value: float) -> str:
    """A bucket bound as prometheus_client writes it (``0.05``, ``1.0``)."""
    return floatToGoString(float(value))
