"""The monitoring report's figures: drift over time, prediction drift and performance over
time, with the thresholds and the windows the rules flagged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tabstudy.config import MonitorConfig
from tabstudy.monitoring.rules import performance_rules


def _dates(windows: pd.Series) -> pd.Series:
    return pd.to_datetime(windows.astype(str))


def plot_drift_over_time(
    summary: pd.DataFrame, cfg: MonitorConfig, max_drifted_share: float
) -> object:
    """The largest PSI per feature family and window (one line per family), the warn and alert
    thresholds, and red crosses on the windows the feature_drift rule flags."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    x = _dates(summary["window"])
    for col in [c for c in summary.columns if c.startswith("psi_")]:
        ax.plot(x, summary[col], marker="o", markersize=3, label=col.removeprefix("psi_"))
    ax.axhline(cfg.psi_warn, color="#DD8452", linestyle="--", linewidth=1,
               label=f"psi_warn {cfg.psi_warn:g}")  # fmt: skip
    ax.axhline(cfg.psi_alert, color="#C44E52", linestyle="--", linewidth=1,
               label=f"psi_alert {cfg.psi_alert:g}")  # fmt: skip
    flagged = summary["drifted_share"] > max_drifted_share
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
    flagged = sorted({a["window"] for a in alerts if a["rule"] in performance_rules()})
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


def plot_prediction_drift(prediction: pd.DataFrame, cfg: MonitorConfig) -> object:
    """The score distribution per window: its PSI against the reference (drifted windows in
    red, the alert threshold dashed) and its mean."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    x = _dates(prediction["window"])
    colors = np.where(prediction["drifted"].astype(bool), "#C44E52", "#4C72B0")
    top.bar(x, prediction["psi"], width=4, color=colors)
    top.axhline(cfg.prediction_psi_alert, color="#C44E52", linestyle="--", linewidth=1,
                label=f"prediction_psi_alert {cfg.prediction_psi_alert:g}")  # fmt: skip
    top.set(title="Prediction drift: score PSI per window (red: drifted)", ylabel="PSI")
    top.legend(fontsize=8)
    bottom.plot(x, prediction["mean_score"], marker="o", markersize=3, color="#4C72B0")
    bottom.set(xlabel="window start", ylabel="mean score")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
