"""The population stability index (PSI) with bins fixed on the training reference (here,
with the reference statistics the features stage saves): the effect size of drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabstudy.spec import about_column

EPS = 1e-4


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    r = np.clip(ref_share, EPS, None)
    c = np.clip(cur_share, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def quantile_edges(values: pd.Series, bins: int) -> list[float]:
    """Inner edges of ``bins`` equal-count bins of the non-missing values."""
    v = values.to_numpy(dtype="float64")
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return []
    return np.unique(np.quantile(v, np.linspace(0, 1, bins + 1))[1:-1]).tolist()


def numeric_shares(values: pd.Series, edges: list[float]) -> np.ndarray:
    """Share of values in each bin between ``edges`` (open-ended), then the share missing."""
    v = values.to_numpy(dtype="float64")
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), v[~np.isnan(v)], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return np.append(counts, np.isnan(v).sum()) / max(len(v), 1)


def category_shares(values: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.astype(str).value_counts(normalize=True).items()}


def reference_stats(
    frame: pd.DataFrame, categorical: list[str], numeric: list[str], bins: int
) -> dict[str, dict]:
    """What drift detection needs of the training window: bin edges and shares per numeric
    feature, category shares per categorical one (JSON-able; saved by the features stage)."""
    num = {}
    for n in numeric:
        with about_column(n, "The drift reference (numeric bins)"):
            edges = quantile_edges(frame[n], bins)
            num[n] = {"edges": edges, "shares": numeric_shares(frame[n], edges).tolist()}
    cat = {}
    for n in categorical:
        with about_column(n, "The drift reference (category shares)"):
            cat[n] = category_shares(frame[n])
    return {"rows": len(frame), "numeric": num, "categorical": cat}


def numeric_psi(ref: pd.Series, cur: pd.Series, bins: int) -> float:
    """PSI over reference quantile bins; missing values form their own bin."""
    edges = quantile_edges(ref, bins)
    return psi(numeric_shares(ref, edges), numeric_shares(cur, edges))


def categorical_psi(ref: pd.Series, cur: pd.Series) -> float:
    """PSI over the union of categories (unseen categories count against the current window)."""
    return category_psi(category_shares(ref), category_shares(cur))


def category_psi(ref: dict[str, float], cur: dict[str, float]) -> float:
    cats = sorted(set(ref) | set(cur))
    return psi(np.array([ref.get(c, 0.0) for c in cats]), np.array([cur.get(c, 0.0) for c in cats]))
