"""Evaluation metrics: ROC AUC, PR AUC, Brier and log loss with bootstrap intervals, the ROC,
PR and calibration curve data, two models compared on the same rows (paired bootstrap), and
each rollout variant's ROC AUC."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from tabstudy import families
from tabstudy.stats import bootstrap_aucs

CURVE_POINTS = 201


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), log loss and Brier score of probabilities ``p``."""
    p = np.clip(np.asarray(p, dtype="float64"), 1e-7, 1 - 1e-7)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
    }


def bootstrap_auc(
    y: np.ndarray, p: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC (rows resampled with replacement; exact AUC per
    resample from one sort, :mod:`tabstudy.stats`)."""
    if samples == 0:
        return (float("nan"), float("nan"))
    stats = bootstrap_aucs(np.asarray(y), {"p": np.asarray(p)}, samples, seed)["p"]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _thin(frame: pd.DataFrame, n: int = CURVE_POINTS) -> pd.DataFrame:
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    idx = np.unique(np.linspace(0, len(frame) - 1, n).round().astype(int))
    return frame.iloc[idx].reset_index(drop=True)


def roc_points(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    fpr, tpr, _ = roc_curve(y, p)
    return _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}))


def pr_points(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(y, p)
    return _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}))


def calibration_points(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    """Mean predicted probability against observed positive rate in equal-count bins."""
    frame = pd.DataFrame({"y": y, "p": p})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    out = frame.groupby("bin").agg(
        mean_predicted=("p", "mean"), fraction_positive=("y", "mean"), count=("y", "size")
    )
    return out.reset_index(drop=True)


MODEL_NAMES: dict[str, str] = families.titles()
"""What reports call each model (the code names are the keys of the metrics files), from
:mod:`tabstudy.families`."""


def scores_table(scores: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Models as rows, metrics as columns, best ROC AUC first."""
    return pd.DataFrame(scores).T.sort_values("roc_auc", ascending=False)


def named(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its model code names (index) replaced by :data:`MODEL_NAMES`."""
    return table.rename(index=MODEL_NAMES).rename_axis("model")


def plot_curves(
    y: np.ndarray, probs: Mapping[str, np.ndarray], bins: int, positive: str = "positive"
) -> object:
    """ROC, precision-recall and calibration curves of several models side by side; the
    calibration axis names the positive class as the study does (``positive``: the spec's
    :attr:`~tabstudy.spec.Words.positive`, e.g. "late")."""
    import matplotlib.pyplot as plt

    fig, (roc_ax, pr_ax, cal_ax) = plt.subplots(1, 3, figsize=(12, 3.6))
    for name, p in probs.items():
        if name == "majority":
            continue
        roc = roc_points(y, p)
        pr = pr_points(y, p)
        cal = calibration_points(y, p, bins)
        roc_ax.plot(roc["fpr"], roc["tpr"], label=name)
        pr_ax.plot(pr["recall"], pr["precision"], label=name)
        cal_ax.plot(cal["mean_predicted"], cal["fraction_positive"], marker="o", label=name)
    roc_ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    cal_ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    roc_ax.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    pr_ax.set(title="Precision-recall", xlabel="recall", ylabel="precision")
    cal_ax.set(title="Calibration", xlabel="mean predicted", ylabel=f"observed {positive} rate")
    for ax in (roc_ax, pr_ax, cal_ax):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def paired_auc_difference(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """ROC AUC of ``p_a`` minus that of ``p_b`` on the same rows, with a paired percentile
    bootstrap interval (both scored on each resample, so their correlation is kept)."""
    y, p_a, p_b = np.asarray(y), np.asarray(p_a), np.asarray(p_b)
    diff = float(roc_auc_score(y, p_a) - roc_auc_score(y, p_b))
    if samples == 0:
        return diff, float("nan"), float("nan")
    stats = bootstrap_aucs(y, {"a": p_a, "b": p_b}, samples, seed)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats["a"] - stats["b"], [alpha, 1 - alpha])
    return diff, float(lo), float(hi)


def comparison_table(
    y: np.ndarray,
    probs: Mapping[str, np.ndarray],
    candidate: str,
    baselines: list[str],
    samples: int,
    seed: int,
) -> pd.DataFrame:
    """The candidate against each baseline: ROC AUC difference, its paired 95% interval and the
    verdict (``better``/``worse`` when the interval excludes 0, else ``tied``)."""
    rows = []
    for name in baselines:
        diff, lo, hi = paired_auc_difference(y, probs[candidate], probs[name], samples, seed)
        verdict = "better" if lo > 0 else "worse" if hi < 0 else "tied"
        rows.append({"baseline": name, "auc_difference": diff, "lo": lo, "hi": hi,
                     "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows).set_index("baseline")


def _auc_interval(y: np.ndarray, p: np.ndarray, samples: int, seed: int) -> dict[str, object]:
    """Rows, ROC AUC and its :func:`bootstrap_auc` interval (None where one class only)."""
    if len(y) < 2 or y.min() == y.max():
        return {"rows": len(y), "roc_auc": None, "lo": None, "hi": None}
    lo, hi = bootstrap_auc(y, p, samples, seed)
    return {"rows": len(y), "roc_auc": float(roc_auc_score(y, p)), "lo": lo, "hi": hi}


def variant_auc(
    rows: pd.DataFrame, labels: pd.Series, samples: int = 200, seed: int = 0
) -> dict[str, object]:
    """Champion and challenger of a rollout (the rows of
    :func:`tabstudy.monitoring.rollout_rows`) on the rows whose outcome is known (``labels``
    indexed by request key): each one's ROC AUC with a bootstrap 95% interval, on every
    labelled row (both scored them all) and on the rows it answered."""
    known = rows[rows["key"].isin(labels.index)]
    y = labels.reindex(known["key"]).to_numpy(int)
    served = known["served"].to_numpy()
    variants = ("champion", "challenger")
    return {
        "labelled_rows": len(known),
        "auc_all_rows": {
            v: _auc_interval(y, known[f"p_{v}"].to_numpy(float), samples, seed) for v in variants
        },
        "auc_served_rows": {
            v: _auc_interval(
                y[served == v], known[f"p_{v}"].to_numpy(float)[served == v], samples, seed
            )
            for v in variants
        },
    }
