"""Bootstrap ROC AUC, exactly and fast: shared by evaluation, monitoring and the backtest.

A bootstrap resample is a vector of counts (how often each row was drawn). The ROC AUC of every
resample comes from one sort of the scores: per group of tied scores, the positive weight times
the negative weight ranked below it, ties counted one half. That equals ``roc_auc_score`` on the
resampled rows (the tests compare them) at a fraction of the cost of re-sorting every resample.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

CHUNK = 25
"""Resamples processed at a time (memory: CHUNK x rows floats)."""


def weighted_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of scores ``p`` for labels ``y`` under each row of ``weights`` (shape
    (resamples, rows): how often each row counts); NaN for a resample with one class only."""
    order = np.argsort(p, kind="stable")
    ps, positive = np.asarray(p)[order], np.asarray(y)[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    w = np.asarray(weights, dtype="float64")[:, order]
    pos = np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1)
    wins = (pos * (np.cumsum(neg, axis=1) - 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / (pos.sum(axis=1) * neg.sum(axis=1))


def chunks(samples: int, size: int = CHUNK) -> Iterator[int]:
    """``samples`` split into chunks of at most ``size``."""
    for start in range(0, samples, size):
        yield min(size, samples - start)


def resample_weights(n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` bootstrap resamples of ``n`` rows as counts (shape (draws, n)), drawn as
    ``draws`` successive ``rng.integers(0, n, n)`` index vectors."""
    idx = rng.integers(0, n, (draws, n)) + n * np.arange(draws)[:, None]
    return np.bincount(idx.ravel(), minlength=draws * n).reshape(draws, n).astype("float64")


def stratified_weights(strata: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``draws`` bootstrap resamples as row counts (shape (draws, rows)): within each stratum,
    as many rows as it has, drawn with replacement."""
    out = np.zeros((draws, len(strata)))
    for s in pd.unique(strata):
        idx = np.flatnonzero(strata == s)
        out[:, idx] = resample_weights(len(idx), draws, rng)
    return out


def bootstrap_aucs(
    y: np.ndarray, scores: dict[str, np.ndarray], samples: int, seed: int
) -> dict[str, np.ndarray]:
    """ROC AUC of every score column under the same ``samples`` resamples of the rows (paired:
    differences between columns keep their correlation); resamples with one class are dropped
    from every column."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {k: [] for k in scores}
    for draws in chunks(samples):
        w = resample_weights(len(y), draws, rng)
        for k, p in scores.items():
            out[k].append(weighted_auc(y, p, w))
    stacked = {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}
    keep = np.all([~np.isnan(v) for v in stacked.values()], axis=0) if stacked else []
    return {k: v[keep] for k, v in stacked.items()}
