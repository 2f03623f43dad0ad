"""The service's Prometheus metrics: one registry per app, shared over several worker
processes through prometheus_client's multiprocess files and :mod:`.histogram`'s shared
memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    values,
)

from tabstudy.serving import workers
from tabstudy.serving.histogram import ArrayHistogram
from tabstudy.serving.rollout import CHALLENGER, CHAMPION

if TYPE_CHECKING:
    from tabstudy.serving.state import State

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)


def share_metrics(directory: Path) -> None:
    """Make every Prometheus metric created from now on in this process, and in the worker
    processes forked from it, write to per-process files in ``directory`` (prometheus_client's
    multiprocess mode, chosen as its import does from ``PROMETHEUS_MULTIPROC_DIR``)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.get_value_class()


class Metrics:
    """The service's Prometheus metrics, in a registry of its own; ``export`` is what
    ``/metrics`` shows. With ``shared`` (several workers, after :func:`share_metrics`) the
    counters, gauge and latency histogram are prometheus_client's multiprocess values, added up
    over the workers' files at each scrape, and the array histograms live in the workers' shared
    memory (:mod:`.histogram`)."""

    def __init__(self, shared: workers.Shared | None = None) -> None:
        self.paths: frozenset[str] = frozenset()
        """The API's paths (set by the app factory from its routes); others count as
        ``other``."""
        self.registry = CollectorRegistry()
        self.export = self.registry
        if shared is not None:
            self.export = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.export)
        arrays = self.export
        self.requests = Counter(
            "tabstudy_requests", "HTTP responses by path and status", ["path", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "tabstudy_request_seconds", "response time by path", ["path"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.scores = ArrayHistogram(
            "tabstudy_prediction_score", "predicted probabilities",
            buckets=[i / 20 for i in range(1, 21)], registry=arrays, shared=shared,
        )  # fmt: skip
        self.unseen = Counter(
            "tabstudy_unseen_category", "served values not seen in training, by feature",
            ["feature"], registry=self.registry,
        )  # fmt: skip
        self.answered = Counter(
            "tabstudy_rows_answered", "rows answered, by variant and model version",
            ["variant", "version"], registry=self.registry,
        )  # fmt: skip
        self.variant_scores = ArrayHistogram(
            "tabstudy_variant_score", "probabilities each variant gave (shadow and canary)",
            buckets=[i / 10 for i in range(1, 11)], registry=arrays, label="variant",
            values=(CHAMPION, CHALLENGER), shared=shared,
        )  # fmt: skip
        self.agreement = Counter(
            "tabstudy_rollout_rows", "rows scored by both variants, by whether their decisions "
            "agree", ["agree"], registry=self.registry,
        )  # fmt: skip
        self.stale = Counter(
            "tabstudy_stale_features", "rows served past an online-store source's watermark "
            "(or before its first event), by source", ["source"], registry=self.registry,
        )  # fmt: skip
        self.log_full = Counter(
            "tabstudy_request_log_full", "requests answered 503 because the request log's "
            "queue was full", registry=self.registry,
        )  # fmt: skip
        self.positive = Counter(
            "tabstudy_positive_decisions", "rows answered with a positive decision (probability "
            "at or above the answering bundle's threshold)", registry=self.registry,
        )  # fmt: skip
        self.reference_positive = Gauge(
            "tabstudy_reference_positive_share", "share of the validation window's rows the "
            "champion decided positive (its threshold.json): what served traffic is compared with",
            registry=self.registry, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.reloads = Counter(
            "tabstudy_reloads", "reloads of the models, by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip

    def known(self, state: State) -> None:
        """Start the series whose label values are known at 0 (Prometheus' advice: a series
        that appears only on its first event breaks ``rate()``; with several workers a family
        without a sample is not exported at all)."""
        for name in state.vocab:
            self.unseen.labels(name)
        for source in state.sources:
            self.stale.labels(source.name)
        for agree in ("yes", "no"):
            self.agreement.labels(agree)
        for outcome in ("ok", "failed"):
            self.reloads.labels(outcome)

    def response(self, path: str, status: int, seconds: float) -> None:
        """Count one response (paths outside the API are pooled as ``other``)."""
        label = path if path in self.paths else "other"
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)
