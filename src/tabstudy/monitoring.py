"""Feature drift of a current window against the training reference: the population stability
index (PSI) per feature, with bins fixed on the reference."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

EPS = 1e-4


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
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
        edges = quantile_edges(frame[n], bins)
        num[n] = {"edges": edges, "shares": numeric_shares(frame[n], edges).tolist()}
    return {
        "rows": len(frame),
        "numeric": num,
        "categorical": {n: category_shares(frame[n]) for n in categorical},
    }


def numeric_psi(ref: pd.Series, cur: pd.Series, bins: int) -> float:
    """PSI over reference quantile bins; missing values form their own bin."""
    edges = quantile_edges(ref, bins)
    return _psi(numeric_shares(ref, edges), numeric_shares(cur, edges))


def categorical_psi(ref: pd.Series, cur: pd.Series) -> float:
    """PSI over the union of categories (unseen categories count against the current window)."""
    return _category_psi(category_shares(ref), category_shares(cur))


def _category_psi(ref: dict[str, float], cur: dict[str, float]) -> float:
    cats = sorted(set(ref) | set(cur))
    return _psi(
        np.array([ref.get(c, 0.0) for c in cats]), np.array([cur.get(c, 0.0) for c in cats])
    )


def drift_table(
    reference: dict[str, dict], cur: pd.DataFrame, warn: float, alert: float
) -> pd.DataFrame:
    """PSI of every feature in ``reference`` (see :func:`reference_stats`) against ``cur``, with
    a status: ok (< warn), warn, or alert (>= alert)."""
    rows = [
        {"feature": n, "kind": "categorical", "psi": _category_psi(shares, category_shares(cur[n]))}
        for n, shares in reference["categorical"].items()
    ]
    rows += [
        {
            "feature": n,
            "kind": "numeric",
            "psi": _psi(np.asarray(r["shares"]), numeric_shares(cur[n], r["edges"])),
        }
        for n, r in reference["numeric"].items()
    ]
    table = pd.DataFrame(rows)
    table["status"] = np.select(
        [table["psi"] >= alert, table["psi"] >= warn], ["alert", "warn"], "ok"
    )
    return table.sort_values("psi", ascending=False).reset_index(drop=True)


def drift_summary(table: pd.DataFrame) -> dict[str, object]:
    """Counts by status and the most drifted feature (every feature's PSI is in the drift table,
    a DVC plot, so that ``dvc metrics show`` stays narrow)."""
    top = table.iloc[0]
    return {
        "features": len(table),
        "alerts": int((table["status"] == "alert").sum()),
        "warnings": int((table["status"] == "warn").sum()),
        "max_psi": float(top["psi"]),
        "max_psi_feature": str(top["feature"]),
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


def drift_findings(
    table: pd.DataFrame, warn: float, alert: float, performance: Mapping[str, float]
) -> list[str]:
    """Sentences computed from the drift table and the model's AUC on the training window's
    validation rows against the monitored rows: what drifted and whether it matters."""
    alerts = table[table["status"] == "alert"]
    warns = table[table["status"] == "warn"]
    out = [
        f"{len(alerts)} of {len(table)} features drifted beyond PSI {alert:g} and {len(warns)} "
        f"beyond {warn:g}."
    ]
    if not alerts.empty:
        top = ", ".join(f"{r.feature} ({r.psi:.2f})" for r in alerts.head(5).itertuples())
        out.append(f"Most drifted: {top}.")
    before, after = performance["reference_auc"], performance["current_auc"]
    change = after - before
    verdict = (
        "the model ranks the monitored rows about as well as the validation rows"
        if abs(change) < 0.01
        else "the model ranks the monitored rows better than the validation rows"
        if change > 0
        else "the model ranks the monitored rows worse than the validation rows"
    )
    out.append(
        f"ROC AUC {before:.4f} on the validation window and {after:.4f} on the monitored rows "
        f"({change:+.4f}): {verdict}, so the drift "
        f"{'has not (yet) cost ranking quality' if change > -0.01 else 'matters'}."
    )
    return out
