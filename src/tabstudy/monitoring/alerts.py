"""The pieces the alert rules (:mod:`tabstudy.monitoring.rules`) are written with: an alert
record, the labelled windows, the interval test against the reference, and the sentences the
findings are made of."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tabstudy.spec import Words


def alert(
    window: str, rule: str, metric: str, value: float, threshold: float, message: str
) -> dict[str, Any]:
    """One fired alert, as ``alerts.json`` lists it."""
    return {"window": str(window), "rule": rule, "metric": metric, "value": float(value),
            "threshold": float(threshold), "message": message}  # fmt: skip


def labelled(performance: pd.DataFrame) -> pd.DataFrame:
    """The windows whose labels have arrived and that have a realised ROC AUC."""
    if performance.empty:
        return performance
    return performance[performance["labelled"].astype(bool) & performance["roc_auc"].notna()]


def below_reference(
    performance: pd.DataFrame,
    rule: str,
    columns: tuple[str, str, str],
    ref_lo: float,
    kind: str,
    tail: str,
) -> list[dict[str, Any]]:
    """A ``rule`` alert for every window whose ROC AUC interval (``columns``: point, low, high)
    lies wholly below the reference interval, which starts at ``ref_lo``."""
    point, lo, hi = columns
    return [
        alert(r["window"], rule, hi, r[hi], ref_lo,
               f"{kind} ROC AUC {r[point]:.4f} [{r[lo]:.4f}, {r[hi]:.4f}] in the window starting "
               f"{r['window']} lies wholly below the reference interval (from {ref_lo:.4f}){tail}.")
        for _, r in performance.iterrows()
        if pd.notna(r[hi]) and r[hi] < ref_lo
    ]  # fmt: skip


def first_window(alerts: list[dict[str, Any]], rule: str | None = None) -> str | None:
    """The earliest window with an alert (of ``rule`` when given), or None."""
    windows = [a["window"] for a in alerts if rule is None or a["rule"] == rule]
    return min(windows) if windows else None


def windows_of(alerts: list[dict[str, Any]], rule: str) -> list[str]:
    return sorted({a["window"] for a in alerts if a["rule"] == rule})


def listed(windows: list[str], most: int = 4) -> str:
    shown = ", ".join(windows[:most])
    return shown + (f" and {len(windows) - most} more" if len(windows) > most else "")


def _most_drifted(summary: pd.DataFrame, drift: pd.DataFrame | None) -> str:
    """The most drifted features: from the per-feature ``drift`` table when given (windows
    alerting and peak PSI per feature), else from the summary's most drifted feature per
    window."""
    if drift is not None and not drift.empty:
        per = drift.groupby("feature").agg(
            alerting=("status", lambda s: int((s == "alert").sum())), peak=("psi", "max")
        )
        top = per.sort_values(["alerting", "peak"], ascending=False).head(3)
        return "Most drifted features: " + "; ".join(
            f"{r.Index} (alerting in {int(r.alerting)} of {drift['window'].nunique()} windows, "
            f"PSI up to {r.peak:.2f})"
            for r in top.itertuples()
        ) + "."  # fmt: skip
    known = summary.dropna(subset=["max_psi"])
    if known.empty:
        return ""
    per = known.groupby("max_psi_feature")["max_psi"].agg(["size", "max"])
    top = per.sort_values(["max", "size"], ascending=False).head(3)
    return "The most drifted feature of a window was " + "; ".join(
        f"{f} in {r['size']:.0f} window(s) (PSI up to {r['max']:.2f})" for f, r in top.iterrows()
    ) + "."  # fmt: skip


def drift_sentences(
    summary: pd.DataFrame, alerts: list[dict[str, Any]], drift: pd.DataFrame | None
) -> list[str]:
    if summary.empty:
        return ["No window had rows to test for feature drift."]
    most = _most_drifted(summary, drift)
    out = [most] if most else []
    flagged = windows_of(alerts, "feature_drift")
    if flagged:
        first = summary.set_index("window").loc[flagged[0]]
        out.append(
            f"Feature drift was first flagged in the window starting {flagged[0]} "
            f"({first['alerts']} of {first['features']} features alerting) and in "
            f"{len(flagged)} of {len(summary)} windows in all ({listed(flagged)})."
        )
    else:
        out.append(
            f"No window was flagged for feature drift: at most {summary['alerts'].max()} of "
            f"{summary['features'].max()} features alerted in any window."
        )
    return out


def prediction_sentence(prediction: pd.DataFrame, alerts: list[dict[str, Any]]) -> str:
    if prediction.empty:
        return "No window had scores to test for prediction drift."
    flagged = windows_of(alerts, "prediction_drift")
    peak = prediction.loc[prediction["psi"].idxmax()]
    if flagged:
        return (
            f"Prediction drift (the score distribution) was flagged in {len(flagged)} of "
            f"{len(prediction)} windows, first in the window starting {flagged[0]} "
            f"({listed(flagged)}); the largest score PSI was {peak['psi']:.3f} "
            f"({peak['window']})."
        )
    return (
        f"The score distribution was not flagged for drift in any window; its largest PSI was "
        f"{peak['psi']:.3f} ({peak['window']}), mean score {prediction['mean_score'].min():.4f} "
        f"to {prediction['mean_score'].max():.4f}."
    )


def performance_sentences(
    performance: pd.DataFrame, label_delay_days: float, words: Words
) -> list[str]:
    if performance.empty:
        return ["No window had rows to estimate performance on."]
    est = performance["est_auc"].dropna()
    out = []
    if len(est):
        out.append(
            f"Estimated ROC AUC (from the calibrated scores, no labels) ranged "
            f"{est.min():.4f} to {est.max():.4f} over {len(performance)} windows."
        )
    done = labelled(performance)
    waiting = int((~performance["labelled"].astype(bool)).sum())
    if done.empty:
        out.append("No window is labelled yet, so no realised ROC AUC can be compared.")
    else:
        gap = (done["est_auc"] - done["roc_auc"]).abs()
        worst = done.loc[gap.idxmax()]
        out.append(
            f"Realised ROC AUC ranged {done['roc_auc'].min():.4f} to "
            f"{done['roc_auc'].max():.4f} over {len(done)} labelled windows; the "
            f"estimate missed it by at most {gap.max():.4f} (window {worst['window']}: "
            f"estimated {worst['est_auc']:.4f}, realised {worst['roc_auc']:.4f})."
        )
        inside = int(done["roc_auc"].between(done["est_auc_lo"], done["est_auc_hi"]).sum())
        out.append(
            f"The realised ROC AUC fell inside the estimate's stated interval in {inside} of "
            f"{len(done)} labelled windows: "
            + (
                "the estimate can be trusted this far."
                if inside >= 0.9 * len(done)
                else "more misses than sampling error explains, so the calibration learned on the "
                "validation window no longer holds (the relation between features and "
                f"{words.outcome} moved); trust realised performance over the estimate here."
            )
        )
    if waiting:
        out.append(
            f"{waiting} window(s) had no realised performance yet: their labels arrive "
            f"{label_delay_days:g} days after {words.event}, so only the estimate covers them."
        )
    return out
