"""Alert rules over the monitoring windows, the findings in words, and the plots.

Rules, each judged per window:

- ``feature_drift``: the share of features alerting (corrected test rejects and PSI at least
  ``psi_alert``) exceeds ``max_drifted_share``;
- ``prediction_drift``: the score distribution drifted (see
  :func:`tabstudy.monitoring.windows.prediction_drift`);
- ``estimated_auc``: the whole interval of the estimated ROC AUC lies below the reference
  (validation window) interval;
- ``realised_auc``: the window is labelled and the whole interval of its realised ROC AUC lies
  below the reference interval;
- ``blessing``: the window is labelled and its realised ROC AUC is below the blessing gate's
  ``min_roc_auc``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabstudy.spec import Words

RULES = ("feature_drift", "prediction_drift", "estimated_auc", "realised_auc", "blessing")
PERFORMANCE_RULES = ("estimated_auc", "realised_auc", "blessing")


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the alert rules (the ``monitor`` section of ``params.yaml``)."""

    alpha: float
    psi_warn: float
    psi_alert: float
    max_drifted_share: float
    prediction_psi_alert: float


def _alert(window: str, rule: str, metric: str, value: float, threshold: float, message: str):
    return {"window": str(window), "rule": rule, "metric": metric, "value": float(value),
            "threshold": float(threshold), "message": message}  # fmt: skip


def _labelled(performance: pd.DataFrame) -> pd.DataFrame:
    """The windows whose labels have arrived and that have a realised ROC AUC."""
    if performance.empty:
        return performance
    return performance[performance["labelled"].astype(bool) & performance["roc_auc"].notna()]


def _below_reference(
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
        _alert(r["window"], rule, hi, r[hi], ref_lo,
               f"{kind} ROC AUC {r[point]:.4f} [{r[lo]:.4f}, {r[hi]:.4f}] in the window starting "
               f"{r['window']} lies wholly below the reference interval (from {ref_lo:.4f}){tail}.")
        for _, r in performance.iterrows()
        if pd.notna(r[hi]) and r[hi] < ref_lo
    ]  # fmt: skip


def alerts(
    summary: pd.DataFrame,
    prediction: pd.DataFrame,
    performance: pd.DataFrame,
    rules: AlertRules,
    reference: Mapping[str, float],
    min_roc_auc: float,
) -> list[dict[str, Any]]:
    """Every fired alert as a dict: window, rule, metric, value, threshold and a message,
    ordered by window, then by rule in the order of :data:`RULES`. ``summary`` is
    :func:`~tabstudy.monitoring.windows.window_summary`, ``prediction``
    :func:`~tabstudy.monitoring.windows.prediction_drift`, ``performance``
    :func:`~tabstudy.monitoring.performance.performance_over_time`; ``reference`` holds the
    validation window's roc_auc, auc_lo and auc_hi."""
    ref_lo = float(reference["auc_lo"])
    out = []
    for r in summary.itertuples():
        if r.drifted_share > rules.max_drifted_share:
            out.append(_alert(
                r.window, "feature_drift", "drifted_share", r.drifted_share,
                rules.max_drifted_share,
                f"{r.alerts} of {r.features} features drifted (corrected p < {rules.alpha:g} and "
                f"PSI >= {rules.psi_alert:g}) in the window starting {r.window}, more than the "
                f"{rules.max_drifted_share:.0%} allowed; the largest is {r.max_psi_feature} "
                f"(PSI {r.max_psi:.2f}).",
            ))  # fmt: skip
    for r in prediction.itertuples():
        if bool(r.drifted):
            out.append(_alert(
                r.window, "prediction_drift", "psi", r.psi, rules.prediction_psi_alert,
                f"The score distribution of the window starting {r.window} drifted from the "
                f"reference: PSI {r.psi:.3f} (alert at {rules.prediction_psi_alert:g}), KS "
                f"statistic {r.statistic:.3f}, corrected p {r.p_adjusted:.2g}; mean score "
                f"{r.mean_score:.4f}.",
            ))  # fmt: skip
    out += _below_reference(performance, "estimated_auc", ("est_auc", "est_auc_lo", "est_auc_hi"),
                            ref_lo, "Estimated", ", before its labels have been seen")  # fmt: skip
    labelled = _labelled(performance)
    out += _below_reference(labelled, "realised_auc", ("roc_auc", "auc_lo", "auc_hi"), ref_lo,
                            "Realised", "")  # fmt: skip
    for r in labelled.itertuples():
        if r.roc_auc < min_roc_auc:
            out.append(_alert(
                r.window, "blessing", "roc_auc", r.roc_auc, min_roc_auc,
                f"Realised ROC AUC {r.roc_auc:.4f} in the window starting {r.window} is below "
                f"the blessing gate's {min_roc_auc:g}: the model would not be blessed on it.",
            ))  # fmt: skip
    return sorted(out, key=lambda a: (a["window"], RULES.index(a["rule"])))


def first_window(alerts: list[dict[str, Any]], rule: str | None = None) -> str | None:
    """The earliest window with an alert (of ``rule`` when given), or None."""
    windows = [a["window"] for a in alerts if rule is None or a["rule"] == rule]
    return min(windows) if windows else None


def _windows_of(alerts: list[dict[str, Any]], rule: str) -> list[str]:
    return sorted({a["window"] for a in alerts if a["rule"] == rule})


def _listed(windows: list[str], most: int = 4) -> str:
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


def _drift_sentences(
    summary: pd.DataFrame, alerts: list[dict[str, Any]], drift: pd.DataFrame | None
) -> list[str]:
    if summary.empty:
        return ["No window had rows to test for feature drift."]
    most = _most_drifted(summary, drift)
    out = [most] if most else []
    flagged = _windows_of(alerts, "feature_drift")
    if flagged:
        first = summary.set_index("window").loc[flagged[0]]
        out.append(
            f"Feature drift was first flagged in the window starting {flagged[0]} "
            f"({first['alerts']} of {first['features']} features alerting) and in "
            f"{len(flagged)} of {len(summary)} windows in all ({_listed(flagged)})."
        )
    else:
        out.append(
            f"No window was flagged for feature drift: at most {summary['alerts'].max()} of "
            f"{summary['features'].max()} features alerted in any window."
        )
    return out


def _prediction_sentence(prediction: pd.DataFrame, alerts: list[dict[str, Any]]) -> str:
    if prediction.empty:
        return "No window had scores to test for prediction drift."
    flagged = _windows_of(alerts, "prediction_drift")
    peak = prediction.loc[prediction["psi"].idxmax()]
    if flagged:
        return (
            f"Prediction drift (the score distribution) was flagged in {len(flagged)} of "
            f"{len(prediction)} windows, first in the window starting {flagged[0]} "
            f"({_listed(flagged)}); the largest score PSI was {peak['psi']:.3f} "
            f"({peak['window']})."
        )
    return (
        f"The score distribution was not flagged for drift in any window; its largest PSI was "
        f"{peak['psi']:.3f} ({peak['window']}), mean score {prediction['mean_score'].min():.4f} "
        f"to {prediction['mean_score'].max():.4f}."
    )


def _performance_sentences(
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
    labelled = _labelled(performance)
    waiting = int((~performance["labelled"].astype(bool)).sum())
    if labelled.empty:
        out.append("No window is labelled yet, so no realised ROC AUC can be compared.")
    else:
        gap = (labelled["est_auc"] - labelled["roc_auc"]).abs()
        worst = labelled.loc[gap.idxmax()]
        out.append(
            f"Realised ROC AUC ranged {labelled['roc_auc'].min():.4f} to "
            f"{labelled['roc_auc'].max():.4f} over {len(labelled)} labelled windows; the "
            f"estimate missed it by at most {gap.max():.4f} (window {worst['window']}: "
            f"estimated {worst['est_auc']:.4f}, realised {worst['roc_auc']:.4f})."
        )
        inside = int(
            labelled["roc_auc"].between(labelled["est_auc_lo"], labelled["est_auc_hi"]).sum()
        )
        out.append(
            f"The realised ROC AUC fell inside the estimate's stated interval in {inside} of "
            f"{len(labelled)} labelled windows: "
            + (
                "the estimate can be trusted this far."
                if inside >= 0.9 * len(labelled)
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


def findings(
    summary: pd.DataFrame,
    prediction: pd.DataFrame,
    performance: pd.DataFrame,
    alerts: list[dict[str, Any]],
    reference: Mapping[str, float],
    min_roc_auc: float,
    label_delay_days: float,
    drift: pd.DataFrame | None = None,
    words: Words | None = None,
) -> list[str]:
    """Sentences computed from the monitoring tables and the fired alerts: what was monitored,
    what drifted and when, estimated against realised ROC AUC, whether performance fell below
    the reference interval and whether the blessing still stands. With ``drift`` (the table of
    :func:`~tabstudy.monitoring.windows.drift_over_time`) the most drifted features are ranked
    by how many windows they alerted in; without it, by the summary's most drifted feature per
    window. ``words`` name the outcome and what labels arrive after (default: a table's)."""
    windows = list(summary["window"]) if not summary.empty else list(performance["window"])
    rows = int(summary["rows"].sum()) if not summary.empty else int(performance["rows"].sum())
    features = int(summary["features"].max()) if not summary.empty else 0
    span = f" ({windows[0]} to {windows[-1]})" if windows else ""
    out = [f"Monitored {len(windows)} windows{span}: {rows:,} rows, {features} features each."]
    out += _drift_sentences(summary, alerts, drift)
    out.append(_prediction_sentence(prediction, alerts))
    out += _performance_sentences(performance, label_delay_days, words or Words())
    interval = f"{reference['roc_auc']:.4f} [{reference['auc_lo']:.4f}, {reference['auc_hi']:.4f}]"
    below = {r: _windows_of(alerts, r) for r in ("realised_auc", "estimated_auc")}
    if below["realised_auc"] or below["estimated_auc"]:
        parts = [
            f"{kind} ROC AUC in {len(w)} window(s), first {w[0]}"
            for kind, w in (("realised", below["realised_auc"]),
                            ("estimated", below["estimated_auc"])) if w
        ]  # fmt: skip
        out.append(
            f"Performance fell wholly below the validation window's {interval}: "
            + "; ".join(parts) + "."
        )  # fmt: skip
    else:
        out.append(
            f"Neither the realised nor the estimated ROC AUC fell wholly below the validation "
            f"window's {interval} in any window."
        )
    labelled = _labelled(performance)
    if labelled.empty:
        out.append(
            f"The blessing (ROC AUC >= {min_roc_auc:g}) cannot be checked on realised outcomes "
            f"yet: no window is labelled."
        )
    else:
        failed = _windows_of(alerts, "blessing")
        low = labelled.loc[labelled["roc_auc"].idxmin()]
        out.append(
            f"The blessing (ROC AUC >= {min_roc_auc:g}) "
            + (
                f"no longer stands: it failed in {len(failed)} of {len(labelled)} labelled "
                f"windows, first {failed[0]}"
                if failed
                else f"still stands in every one of the {len(labelled)} labelled windows"
            )
            + f" (lowest {low['roc_auc']:.4f}, window {low['window']})."
        )
    return out


def _dates(windows: pd.Series) -> pd.Series:
    return pd.to_datetime(windows.astype(str))


def plot_drift_over_time(summary: pd.DataFrame, rules: AlertRules) -> object:
    """The largest PSI per feature family and window (one line per family), the warn and alert
    thresholds, and red crosses on the windows the feature_drift rule flags."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    x = _dates(summary["window"])
    for col in [c for c in summary.columns if c.startswith("psi_")]:
        ax.plot(x, summary[col], marker="o", markersize=3, label=col.removeprefix("psi_"))
    ax.axhline(rules.psi_warn, color="#DD8452", linestyle="--", linewidth=1,
               label=f"psi_warn {rules.psi_warn:g}")  # fmt: skip
    ax.axhline(rules.psi_alert, color="#C44E52", linestyle="--", linewidth=1,
               label=f"psi_alert {rules.psi_alert:g}")  # fmt: skip
    flagged = summary["drifted_share"] > rules.max_drifted_share
    if flagged.any():
        ax.scatter(x[flagged], summary.loc[flagged, "max_psi"], marker="x", color="#C44E52",
                   s=60, zorder=3, label="feature_drift alert")  # fmt: skip
    ax.set(title="Feature drift over time (largest PSI per family)", xlabel="window start",
           ylabel="PSI (linear below 0.1, log above)")  # fmt: skip
    ax.set_yscale("symlog", linthresh=0.1)  # the thresholds stay visible beside PSIs of 5+
    ax.legend(fontsize=8, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_performance_over_time(
    performance: pd.DataFrame, reference: Mapping[str, float], alerts: list[dict[str, Any]]
) -> object:
    """Estimated ROC AUC per window with its interval as a band, realised ROC AUC with its
    bootstrap interval as error bars, the reference interval as a shaded band and red crosses
    on the windows with a performance alert."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    x = _dates(performance["window"])
    ax.axhspan(reference["auc_lo"], reference["auc_hi"], color="#8C8C8C", alpha=0.25,
               label=f"reference {reference['roc_auc']:.3f}")  # fmt: skip
    ax.plot(x, performance["est_auc"], color="#4C72B0", label="estimated (CBPE)")
    lo, hi = performance["est_auc_lo"].astype(float), performance["est_auc_hi"].astype(float)
    ax.fill_between(x, lo, hi, color="#4C72B0", alpha=0.2)
    real = performance["roc_auc"].notna().to_numpy()
    if real.any():
        auc = performance.loc[real, "roc_auc"].to_numpy(float)
        err = np.vstack([auc - performance.loc[real, "auc_lo"].to_numpy(float),
                         performance.loc[real, "auc_hi"].to_numpy(float) - auc])  # fmt: skip
        ax.errorbar(x[real], auc, yerr=err, fmt="o", color="#55A868", capsize=3,
                    label="realised")  # fmt: skip
    flagged = sorted({a["window"] for a in alerts if a["rule"] in PERFORMANCE_RULES})
    if flagged:
        at = performance.set_index("window").loc[flagged]
        y = at["roc_auc"].where(at["roc_auc"].notna(), at["est_auc"])
        ax.scatter(pd.to_datetime(flagged), y, marker="x", color="#C44E52", s=70, zorder=3,
                   label="performance alert")  # fmt: skip
    ax.set(title="ROC AUC over time: estimated and realised", xlabel="window start",
           ylabel="ROC AUC")  # fmt: skip
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_prediction_drift(prediction: pd.DataFrame, rules: AlertRules) -> object:
    """The score distribution per window: its PSI against the reference (drifted windows in
    red, the alert threshold dashed) and its mean."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    x = _dates(prediction["window"])
    colors = np.where(prediction["drifted"].astype(bool), "#C44E52", "#4C72B0")
    top.bar(x, prediction["psi"], width=4, color=colors)
    top.axhline(rules.prediction_psi_alert, color="#C44E52", linestyle="--", linewidth=1,
                label=f"prediction_psi_alert {rules.prediction_psi_alert:g}")  # fmt: skip
    top.set(title="Prediction drift: score PSI per window (red: drifted)", ylabel="PSI")
    top.legend(fontsize=8)
    bottom.plot(x, prediction["mean_score"], marker="o", markersize=3, color="#4C72B0")
    bottom.set(xlabel="window start", ylabel="mean score")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
