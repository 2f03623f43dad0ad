"""Feature drift of a current window against the training reference: the population stability
index (PSI) per feature, with bins fixed on the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-4


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    r = np.clip(ref_share, EPS, None)
    c = np.clip(cur_share, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_psi(ref: pd.Series, cur: pd.Series, bins: int) -> float:
    """PSI over reference quantile bins; missing values form their own bin."""
    edges = np.unique(np.nanquantile(ref.to_numpy(dtype="float64"), np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([-np.inf, np.inf])
    edges[0], edges[-1] = -np.inf, np.inf

    def shares(s: pd.Series) -> np.ndarray:
        v = s.to_numpy(dtype="float64")
        counts = np.histogram(v[~np.isnan(v)], edges)[0]
        return np.append(counts, np.isnan(v).sum()) / max(len(v), 1)

    return _psi(shares(ref), shares(cur))


def categorical_psi(ref: pd.Series, cur: pd.Series) -> float:
    """PSI over the union of categories (unseen categories count against the current window)."""
    cats = sorted(set(ref.astype(str)) | set(cur.astype(str)))
    r = ref.astype(str).value_counts(normalize=True).reindex(cats, fill_value=0.0).to_numpy()
    c = cur.astype(str).value_counts(normalize=True).reindex(cats, fill_value=0.0).to_numpy()
    return _psi(r, c)


def drift_table(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    bins: int,
    warn: float,
    alert: float,
) -> pd.DataFrame:
    """PSI of every feature with a status: ok (< warn), warn, or alert (>= alert)."""
    rows = [
        {"feature": n, "kind": "categorical", "psi": categorical_psi(ref[n], cur[n])}
        for n in categorical
    ]
    rows += [
        {"feature": n, "kind": "numeric", "psi": numeric_psi(ref[n], cur[n], bins)} for n in numeric
    ]
    table = pd.DataFrame(rows)
    table["status"] = np.select(
        [table["psi"] >= alert, table["psi"] >= warn], ["alert", "warn"], "ok"
    )
    return table.sort_values("psi", ascending=False).reset_index(drop=True)


def drift_summary(table: pd.DataFrame) -> dict[str, object]:
    """Counts by status, the most drifted feature and every feature's PSI."""
    top = table.iloc[0]
    return {
        "alerts": int((table["status"] == "alert").sum()),
        "warnings": int((table["status"] == "warn").sum()),
        "max_psi": float(top["psi"]),
        "max_psi_feature": str(top["feature"]),
        "psi": {r.feature: float(r.psi) for r in table.itertuples()},
    }


def plot_drift(table: pd.DataFrame, warn: float, alert: float) -> object:
    """Horizontal bars of PSI per feature with the warn and alert thresholds."""
    import matplotlib.pyplot as plt

    t = table.sort_values("psi")
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(t) + 1))
    colors = t["status"].map({"ok": "#55A868", "warn": "#DD8452", "alert": "#C44E52"})
    ax.barh(t["feature"], t["psi"], color=colors)
    ax.axvline(warn, color="#DD8452", linestyle="--", linewidth=1)
    ax.axvline(alert, color="#C44E52", linestyle="--", linewidth=1)
    ax.set(title="Feature drift, test vs training (PSI)", xlabel="PSI")
    fig.tight_layout()
    return fig
