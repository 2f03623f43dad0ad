"""Performance over time: realised once a window's labels have arrived (ROC AUC and Brier
score with bootstrap intervals, calibration), and estimated before they do from the scores alone
(confidence-based performance estimation in the spirit of NannyML's CBPE: calibrated
probabilities say how likely each row is positive; label vectors drawn from them give the
expected ROC AUC and Brier score and the spread of what the labels could turn out to be).

The estimate sees only the scores: it follows covariate and score shift, not a change in how the
labels depend on the features (concept shift), which only the realised performance shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

from tabstudy.stats import chunks as _stat_chunks
from tabstudy.stats import weighted_auc

ECE_BINS = 10
CHUNK = 50  # resamples / draws held in memory at a time


def chunks(total: int) -> Iterator[int]:
    """``total`` resamples or draws in chunks of :data:`CHUNK`."""
    return _stat_chunks(total, CHUNK)


ESTIMATED_COLUMNS = [
    "est_auc", "est_auc_lo", "est_auc_hi", "est_brier", "est_brier_lo", "est_brier_hi",
    "expected_rate",
]  # fmt: skip
REALISED_COLUMNS = [
    "positives", "roc_auc", "auc_lo", "auc_hi", "brier", "brier_lo", "brier_hi",
    "mean_probability", "observed_rate", "calibration_gap", "ece",
]  # fmt: skip


def _interval(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite ``values`` (None when there are none)."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    tail = (1 - level) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)


def _ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: equal-width bins, |mean probability - rate| weighted by
    rows."""
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    rows = np.bincount(idx, minlength=bins)
    mean_p = np.bincount(idx, weights=p, minlength=bins)
    rate = np.bincount(idx, weights=y, minlength=bins)
    used = rows > 0
    return float(np.sum(np.abs(mean_p[used] - rate[used])) / len(p))


def realised(
    y: np.ndarray, p: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> dict[str, Any]:
    """Performance of probabilities ``p`` on labels ``y``: rows, positives, roc_auc with a
    percentile bootstrap interval (auc_lo, auc_hi; resamples with one class skipped; all None
    when ``y`` has one class), brier with brier_lo/brier_hi, mean_probability, observed_rate,
    calibration_gap (mean_probability - observed_rate) and ece (10 equal-width bins)."""
    y = np.asarray(y).astype("int64")
    p = np.asarray(p, dtype="float64")
    n = len(y)
    if n == 0:
        raise ValueError("no rows to measure performance on")
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    sq = (p - y) ** 2
    for size in chunks(samples):
        idx = rng.integers(0, n, (size, n))
        flat = (idx + n * np.arange(size)[:, None]).ravel()
        weights = np.bincount(flat, minlength=size * n).reshape(size, n)
        briers.append(weights @ sq / n)
        aucs.append(weighted_auc(y, p, weights))
    one_class = y.min() == y.max()
    auc = None if one_class else float(weighted_auc(y, p, np.ones((1, n)))[0])
    auc_lo, auc_hi = (None, None) if one_class else _interval(np.concatenate(aucs or [[]]), level)
    brier_lo, brier_hi = _interval(np.concatenate(briers or [[]]), level)
    mean_p, rate = float(p.mean()), float(y.mean())
    return {
        "rows": n, "positives": int(y.sum()),
        "roc_auc": auc, "auc_lo": auc_lo, "auc_hi": auc_hi,
        "brier": float(sq.mean()), "brier_lo": brier_lo, "brier_hi": brier_hi,
        "mean_probability": mean_p, "observed_rate": rate, "calibration_gap": mean_p - rate,
        "ece": _ece(y, p),
    }  # fmt: skip


@dataclass(frozen=True)
class Calibrator:
    """Isotonic map from scores to calibrated probabilities, fitted on the validation window
    (its thresholds are stored, so it is JSON-able and applied with linear interpolation,
    clipped at the ends)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, y: np.ndarray) -> Calibrator:
        """Isotonic regression of the labels ``y`` on ``scores``."""
        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
        iso.fit(np.asarray(scores, dtype="float64"), np.asarray(y, dtype="float64"))
        return cls(
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores``."""
        return np.interp(np.asarray(scores, dtype="float64"), self.x, self.y)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Calibrator:
        if len(data["x"]) != len(data["y"]) or not data["x"]:
            raise ValueError("a calibrator needs as many x as y thresholds, at least one")
        return cls(x=tuple(map(float, data["x"])), y=tuple(map(float, data["y"])))


def estimated(
    scores: np.ndarray, calibrated: np.ndarray, draws: int, seed: int, level: float = 0.95
) -> dict[str, Any]:
    """Performance estimated without labels: ``draws`` label vectors drawn from the calibrated
    probabilities; est_auc is the mean ROC AUC of ``scores`` over the draws with the percentile
    interval est_auc_lo/est_auc_hi (the estimate's stated error; None where no draw had both
    classes), est_brier the expected Brier score of ``scores`` (analytic) with
    est_brier_lo/est_brier_hi from the draws, and expected_rate the mean calibrated
    probability."""
    s = np.asarray(scores, dtype="float64")
    c = np.asarray(calibrated, dtype="float64")
    n = len(s)
    if n == 0:
        raise ValueError("no rows to estimate performance on")
    ranks = rankdata(s)  # average ranks for ties: Mann-Whitney per draw
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for size in chunks(draws):
        labels = (rng.random((size, n)) < c).astype("float64")
        pos = labels.sum(axis=1)
        pairs = pos * (n - pos)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (labels @ ranks - pos * (pos + 1) / 2) / pairs
        aucs.append(np.where(pairs > 0, auc, np.nan))
        briers.append((np.sum(s**2) + labels @ (1 - 2 * s)) / n)
    auc_draws = np.concatenate(aucs or [[]])
    finite = auc_draws[np.isfinite(auc_draws)]
    lo, hi = _interval(auc_draws, level)
    brier_lo, brier_hi = _interval(np.concatenate(briers or [[]]), level)
    return {
        "est_auc": float(finite.mean()) if len(finite) else None,
        "est_auc_lo": lo, "est_auc_hi": hi,
        "est_brier": float(np.mean(c * (1 - s) ** 2 + (1 - c) * s**2)),
        "est_brier_lo": brier_lo, "est_brier_hi": brier_hi,
        "expected_rate": float(c.mean()),
    }  # fmt: skip


def performance_over_time(
    frame: pd.DataFrame,
    window_col: str,
    score_col: str,
    label_col: str,
    labelled_until: pd.Timestamp | None,
    time_col: str,
    calibrator: Calibrator,
    samples: int,
    draws: int,
    seed: int,
) -> pd.DataFrame:
    """One row per window in time order: window, rows, the :func:`estimated` columns (always),
    labelled (every row's ``time_col`` is before ``labelled_until``, so its label has arrived;
    None: all labelled) and the :func:`realised` columns on the rows with a label (NaN where
    the window is not labelled). Window ``i`` uses seed ``seed + i``."""
    known = frame[frame[window_col].notna()]
    rows = []
    for i, (window, part) in enumerate(known.groupby(known[window_col].astype(str), sort=True)):
        s = part[score_col].to_numpy(dtype="float64")
        row: dict[str, Any] = {"window": window, "rows": len(part)}
        row |= estimated(s, calibrator(s), draws, seed + i)
        labelled = labelled_until is None or bool(
            (pd.to_datetime(part[time_col]) < pd.Timestamp(labelled_until)).all()
        )
        row["labelled"] = labelled
        has_label = part[label_col].notna().to_numpy()
        if labelled and has_label.any():
            y = part.loc[has_label, label_col].to_numpy()
            got = realised(y, s[has_label], samples, seed + i)
            row |= {k: got[k] for k in REALISED_COLUMNS}
        else:
            row |= dict.fromkeys(REALISED_COLUMNS, np.nan)
        rows.append(row)
    columns = ["window", "rows", *ESTIMATED_COLUMNS, "labelled", *REALISED_COLUMNS]
    out = pd.DataFrame(rows, columns=columns)
    for c in [*ESTIMATED_COLUMNS, *REALISED_COLUMNS]:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out
