"""Drift over time: rows labelled by window (a week or a calendar month after a start date),
a test per feature and window against the training reference (Kolmogorov-Smirnov for numeric
features, chi-square for categorical ones) corrected for multiple testing, and the population
stability index (PSI) as the effect size. A window's feature drifts only when its corrected test
rejects *and* its PSI is large: at tens of thousands of rows every p-value is tiny."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, ks_2samp

from tabstudy.monitoring import drift
from tabstudy.spec import about_column

FREQS = ("week", "month")
RARE = "__rare__"
MISSING = "__missing__"
MIN_POOLED = 5
TEST_COLUMNS = ["feature", "kind", "test", "statistic", "pvalue", "psi"]
DRIFT_COLUMNS = [
    "window", "feature", "family", "kind", "test", "statistic", "pvalue", "p_adjusted", "psi",
    "rows", "status",
]  # fmt: skip
PREDICTION_COLUMNS = [
    "window", "rows", "mean_score", "statistic", "pvalue", "p_adjusted", "psi", "drifted",
]  # fmt: skip


def assign_windows(times: pd.Series, start: pd.Timestamp, freq: str) -> pd.Series:
    """The start date (``YYYY-MM-DD``) of each row's window: ``week`` is 7-day windows from
    ``start``, ``month`` calendar months (the first window runs from ``start`` to the next month
    start). Rows before ``start`` (or without a time) get NA."""
    if freq not in FREQS:
        raise ValueError(f"unknown window freq {freq!r}: expected one of {', '.join(FREQS)}")
    t = pd.to_datetime(times)
    start = pd.Timestamp(start)
    after = t >= start
    if freq == "week":
        weeks = np.floor((t - start) / pd.Timedelta(days=7))
        begin = start + pd.to_timedelta(weeks * 7, unit="D")
    else:
        month_start = t.dt.to_period("M").dt.to_timestamp()
        begin = month_start.where(month_start > start, start)
    labels = begin.dt.strftime("%Y-%m-%d").astype("string")
    return labels.where(after, pd.NA).rename(times.name)


def adjust_pvalues(p: np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """P-values corrected for the number of (non-missing) tests: Benjamini-Hochberg (``fdr_bh``,
    false discovery rate) or ``bonferroni`` (family-wise error). NaN stays NaN."""
    p = np.asarray(p, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "bonferroni":
        out[ok] = np.minimum(q * m, 1.0)
    elif method == "fdr_bh":
        order = np.argsort(q, kind="stable")
        scaled = q[order] * m / np.arange(1, m + 1)
        adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
        back = np.empty(m)
        back[order] = np.minimum(adjusted, 1.0)
        out[ok] = back
    else:
        raise ValueError(f"unknown p-value correction {method!r}: expected fdr_bh or bonferroni")
    return out


@dataclass(frozen=True)
class _Reference:
    """What the tests need of the reference, computed once for every window."""

    numeric: dict[str, tuple[np.ndarray, list[float], np.ndarray]]  # values, edges, shares
    categorical: dict[str, tuple[pd.Series, dict[str, float]]]  # counts, shares


def _categories(values: pd.Series) -> pd.Series:
    """Values as category labels for the chi-square test; missing values are a category."""
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def _prepare(
    reference: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    bins: int,
    reference_stats: Mapping[str, Mapping] | None,
) -> _Reference:
    stats_num = (reference_stats or {}).get("numeric", {})
    stats_cat = (reference_stats or {}).get("categorical", {})
    num = {}
    for n in numeric:
        with about_column(n, "The drift reference (numeric)"):
            values = reference[n].to_numpy(dtype="float64")
        if n in stats_num:
            edges, shares = list(stats_num[n]["edges"]), np.asarray(stats_num[n]["shares"])
        else:
            edges = drift.quantile_edges(reference[n], bins)
            shares = drift.numeric_shares(reference[n], edges)
        num[n] = (values[~np.isnan(values)], edges, shares)
    cat = {
        n: (
            _categories(reference[n]).value_counts(),
            dict(stats_cat[n]) if n in stats_cat else drift.category_shares(reference[n]),
        )
        for n in categorical
    }
    return _Reference(numeric=num, categorical=cat)


def _chi2(ref_counts: pd.Series, cur_counts: pd.Series) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x K table of counts, categories with a pooled
    count below :data:`MIN_POOLED` merged into one ``__rare__`` column."""
    table = pd.concat([ref_counts, cur_counts], axis=1).fillna(0.0).T.copy()
    if table.sum(axis=1).min() == 0:
        return float("nan"), float("nan")
    pooled = table.sum(axis=0)
    rare = pooled[pooled < MIN_POOLED].index
    if len(rare):
        kept = table.drop(columns=rare)
        table = pd.concat([kept, table[rare].sum(axis=1).rename(RARE)], axis=1)
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = chi2_contingency(table.to_numpy(), correction=False)
    return float(result.statistic), float(result.pvalue)


def _tests(ref: _Reference, current: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for n, (values, edges, shares) in ref.numeric.items():
        with about_column(n, "The drift test (numeric)"):
            cur = current[n].to_numpy(dtype="float64")
            cur = cur[~np.isnan(cur)]
            if len(values) < 2 or len(cur) < 2:
                stat, pvalue = float("nan"), float("nan")
            else:
                ks = ks_2samp(values, cur, method="asymp")
                stat, pvalue = float(ks.statistic), float(ks.pvalue)
            psi = drift.psi(shares, drift.numeric_shares(current[n], edges))
        rows.append({"feature": n, "kind": "numeric", "test": "ks", "statistic": stat,
                     "pvalue": pvalue, "psi": psi})  # fmt: skip
    for n, (counts, shares) in ref.categorical.items():
        with about_column(n, "The drift test (categorical)"):
            stat, pvalue = _chi2(counts, _categories(current[n]).value_counts())
            psi = drift.category_psi(shares, drift.category_shares(current[n]))
        rows.append({"feature": n, "kind": "categorical", "test": "chi2", "statistic": stat,
                     "pvalue": pvalue, "psi": psi})  # fmt: skip
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def feature_tests(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    bins: int,
    reference_stats: dict | None = None,
) -> pd.DataFrame:
    """One row per feature (numeric first): feature, kind, test (``ks`` or ``chi2``),
    statistic, pvalue (uncorrected; NaN where a side has fewer than 2 values) and psi (over the
    bins and shares of ``reference_stats`` when given, else of ``reference``)."""
    return _tests(_prepare(reference, categorical, numeric, bins, reference_stats), current)


def _status(
    p_adjusted: pd.Series, psi: pd.Series, alpha: float, warn: float, alert: float
) -> np.ndarray:
    rejects = p_adjusted < alpha
    return np.select([rejects & (psi >= alert), rejects & (psi >= warn)], ["alert", "warn"], "ok")


def _windows(frame: pd.DataFrame, window_col: str) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each window, windows in time order (ISO dates sort as strings)."""
    known = frame[frame[window_col].notna()]
    return [(str(w), part) for w, part in known.groupby(known[window_col].astype(str), sort=True)]


def drift_over_time(
    reference: pd.DataFrame,
    frame: pd.DataFrame,
    window_col: str,
    categorical: list[str],
    numeric: list[str],
    bins: int,
    alpha: float,
    psi_warn: float,
    psi_alert: float,
    families: Mapping[str, str],
    method: str = "fdr_bh",
    reference_stats: dict | None = None,
) -> pd.DataFrame:
    """One row per (window, feature), windows in time order: the tests of
    :func:`feature_tests`, ``p_adjusted`` (corrected across the features of the window), the
    feature's family (``other`` when not in ``families``), the window's rows and a status:
    ``alert`` where the corrected test rejects at ``alpha`` and PSI >= ``psi_alert``, ``warn``
    where it rejects and PSI >= ``psi_warn``, else ``ok``."""
    ref = _prepare(reference, categorical, numeric, bins, reference_stats)
    parts = []
    for window, part in _windows(frame, window_col):
        t = _tests(ref, part)
        t.insert(0, "window", window)
        t["p_adjusted"] = adjust_pvalues(t["pvalue"].to_numpy(), method)
        t["rows"] = len(part)
        parts.append(t)
    if not parts:
        return pd.DataFrame(columns=DRIFT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["family"] = out["feature"].map(lambda f: families.get(f, "other"))
    out["status"] = _status(out["p_adjusted"], out["psi"], alpha, psi_warn, psi_alert)
    return out[DRIFT_COLUMNS]


def prediction_drift(
    reference_scores: np.ndarray,
    frame: pd.DataFrame,
    window_col: str,
    score_col: str,
    alpha: float,
    psi_alert: float,
    bins: int = 10,
) -> pd.DataFrame:
    """Drift of the model's score distribution, one row per window in time order: rows,
    mean_score, the Kolmogorov-Smirnov statistic and pvalue against ``reference_scores``,
    p_adjusted (Benjamini-Hochberg across windows), psi (reference quantile bins) and
    drifted (p_adjusted < ``alpha`` and psi >= ``psi_alert``)."""
    ref = pd.Series(np.asarray(reference_scores, dtype="float64"))
    edges = drift.quantile_edges(ref, bins)
    shares = drift.numeric_shares(ref, edges)
    ref_values = ref.dropna().to_numpy()
    rows = []
    for window, part in _windows(frame, window_col):
        cur = part[score_col].astype("float64")
        values = cur.dropna().to_numpy()
        if len(values) < 2 or len(ref_values) < 2:
            stat, pvalue = float("nan"), float("nan")
        else:
            ks = ks_2samp(ref_values, values, method="asymp")
            stat, pvalue = float(ks.statistic), float(ks.pvalue)
        rows.append({
            "window": window, "rows": len(part), "mean_score": float(cur.mean()),
            "statistic": stat, "pvalue": pvalue,
            "psi": drift.psi(shares, drift.numeric_shares(cur, edges)),
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=["window", "rows", "mean_score", "statistic", "pvalue", "psi"])
    out["p_adjusted"] = adjust_pvalues(out["pvalue"].to_numpy(dtype="float64"), "fdr_bh")
    out["drifted"] = (out["p_adjusted"] < alpha) & (out["psi"] >= psi_alert)
    return out[PREDICTION_COLUMNS]


def window_summary(drift: pd.DataFrame) -> pd.DataFrame:
    """One row per window of :func:`drift_over_time`: window, rows, features, alerts, warnings,
    drifted_share (alerts / features), max_psi, max_psi_feature and ``psi_<family>`` (the
    largest PSI of each feature family)."""
    families = sorted(drift["family"].unique()) if len(drift) else []
    rows = []
    for window, part in drift.groupby("window", sort=True):
        top = part.loc[part["psi"].idxmax()] if part["psi"].notna().any() else None
        row = {
            "window": window,
            "rows": int(part["rows"].iloc[0]),
            "features": len(part),
            "alerts": int((part["status"] == "alert").sum()),
            "warnings": int((part["status"] == "warn").sum()),
        }
        row["drifted_share"] = row["alerts"] / row["features"]
        row["max_psi"] = float(top["psi"]) if top is not None else float("nan")
        row["max_psi_feature"] = str(top["feature"]) if top is not None else None
        by_family = part.groupby("family")["psi"].max()
        row |= {f"psi_{f}": float(by_family.get(f, np.nan)) for f in families}
        rows.append(row)
    columns = ["window", "rows", "features", "alerts", "warnings", "drifted_share", "max_psi",
               "max_psi_feature"] + [f"psi_{f}" for f in families]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
