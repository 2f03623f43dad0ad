"""Explanations for one prediction: occlusion against the training reference.

Each feature of the row is replaced, one at a time, by its training-window reference value (a
numeric feature's median, a categorical's most frequent value; from the bundle's
``reference_stats.json``), and the row with every feature at its reference gives the baseline.
The original row, the occluded rows and the baseline are scored in **one** runtime call, so an
explanation costs one batched inference of ``features + 2`` rows, and it is deterministic (the
same row gives the same contributions, on every runtime that gives the same probabilities).

A feature's contribution is the probability of the row minus the probability with that feature
at its reference: positive when the row's value pushes the probability up. With interacting
features the contributions need not add up to ``probability - baseline`` (occlusion measures each
feature given the others, unlike Shapley values); both numbers are returned so a reader sees how
far apart they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tabstudy.spec import MISSING_CATEGORY, FeatureSet


def reference_values(spec: FeatureSet, reference: Mapping[str, Any]) -> dict[str, Any]:
    """Each feature's reference value: a categorical's most frequent training value, a numeric's
    middle quantile edge (the median), from the bundle's drift reference; missing when the
    reference has none."""
    out: dict[str, Any] = {}
    for f in spec.features:
        if f.kind == "categorical":
            shares = reference.get("categorical", {}).get(f.name, {})
            out[f.name] = max(shares, key=shares.get) if shares else MISSING_CATEGORY
        else:
            edges = reference.get("numeric", {}).get(f.name, {}).get("edges", [])
            out[f.name] = float(edges[len(edges) // 2]) if edges else float("nan")
    return out


@dataclass(frozen=True)
class Contribution:
    """One feature's part in a prediction."""

    feature: str
    value: Any
    reference: Any
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A row's probability, the all-reference baseline, and the features by the size of their
    contribution (largest first)."""

    probability: float
    baseline: float
    contributions: list[Contribution]


def occlusion(
    features: Mapping[str, np.ndarray],
    references: Mapping[str, Any],
    predict: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    top: int | None = None,
) -> Explanation:
    """Explain the single row in ``features`` (one array of length 1 per feature) by occlusion
    against ``references``, scoring every variant in one ``predict`` call; the ``top``
    contributions by absolute size (all when None), ties in feature order."""
    names = list(features)
    n = len(names)
    batch: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        column = np.repeat(np.asarray(features[name]), n + 2)
        column[1 + j] = references[name]  # row 1 + j: feature j at its reference
        column[n + 1] = references[name]  # the last row: every feature at its reference
        batch[name] = column
    p = np.asarray(predict(batch), dtype="float64")
    deltas = p[0] - p[1 : n + 1]
    order = sorted(range(n), key=lambda j: (-abs(deltas[j]), j))[: top or n]
    return Explanation(
        probability=float(p[0]),
        baseline=float(p[n + 1]),
        contributions=[
            Contribution(
                names[j],
                _plain(features[names[j]][0]),
                _plain(references[names[j]]),
                float(deltas[j]),
            )
            for j in order
        ],
    )


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value
