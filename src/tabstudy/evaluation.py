"""Honest evaluation: metrics with bootstrap intervals, ROC/PR/calibration curve data, and the
blessing gate that decides whether a model may ship."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

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

from tabstudy.spec import about_column
from tabstudy.stats import bootstrap_aucs

SLICE_HINT = "Check the column's values, or leave it out of params.yaml features.slices."

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


@dataclass(frozen=True)
class Blessing:
    """The gate's decision and why."""

    blessed: bool
    roc_auc: float
    best_baseline: str
    best_baseline_roc_auc: float
    min_roc_auc: float
    max_gap: float
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)
    """What the card and the gate must show even when blessed (a suspiciously perfect score)."""


SUSPICIOUS = "suspiciously perfect"


def near_perfect(auc: float, bound: float | None, accepted: str | None) -> tuple[str, bool]:
    """The "suspiciously perfect" warning for a test ROC AUC above ``bound`` (empty when not),
    and whether it blocks (no ``accepted`` reason given)."""
    if bound is None or not auc > bound:
        return "", False
    text = (
        f"{SUSPICIOUS}: test ROC AUC {auc:.4f} is above features.leakage_auc {bound:g}; a "
        "feature may carry the label (part of the outcome, or recorded after it)"
    )
    if accepted:
        return f"{text}; accepted (evaluate.allow_near_perfect): {accepted}", False
    return f"{text}; check the features, or give the reason in evaluate.allow_near_perfect", True


def bless(
    scores: Mapping[str, Mapping[str, float]],
    candidate: str,
    baselines: list[str],
    min_roc_auc: float,
    max_gap: float,
    leakage_auc: float | None = None,
    allow_near_perfect: str | None = None,
) -> Blessing:
    """Bless ``candidate`` if its ROC AUC reaches ``min_roc_auc``, is within ``max_gap`` of the
    best baseline's and, unless ``allow_near_perfect`` gives a reason, is not above
    ``leakage_auc`` (:func:`near_perfect`)."""
    auc = scores[candidate]["roc_auc"]
    best = max(baselines, key=lambda b: scores[b]["roc_auc"])
    best_auc = scores[best]["roc_auc"]
    reasons = []
    if auc < min_roc_auc:
        reasons.append(f"ROC AUC {auc:.4f} below the floor {min_roc_auc:.4f}")
    if auc < best_auc - max_gap:
        reasons.append(f"ROC AUC {auc:.4f} more than {max_gap:.4f} below {best} ({best_auc:.4f})")
    warning, blocks = near_perfect(auc, leakage_auc, allow_near_perfect)
    if blocks:
        reasons.append(warning)
    warnings = [warning] if warning else []
    return Blessing(not reasons, auc, best, best_auc, min_roc_auc, max_gap, reasons, warnings)


def blessing_dict(b: Blessing) -> dict[str, object]:
    return asdict(b)


def blessing_table(b: Blessing) -> pd.DataFrame:
    """The gate's decision as a small table for reports."""
    rows = {
        "decision": "BLESSED" if b.blessed else "NOT BLESSED",
        "model ROC AUC": round(b.roc_auc, 4),
        "floor (evaluate.min_roc_auc)": b.min_roc_auc,
        f"best baseline ({b.best_baseline}) ROC AUC": round(b.best_baseline_roc_auc, 4),
        "allowed gap (evaluate.max_gap_to_best_baseline)": b.max_gap,
        "reasons": "; ".join(b.reasons) or "none",
        **({"warnings": "; ".join(b.warnings)} if b.warnings else {}),
    }
    return pd.Series(rows, name="blessing gate").to_frame()


MODEL_NAMES: dict[str, str] = {
    "model": "Keras MLP (tuned)",
    "logreg": "logistic regression",
    "hgb": "gradient-boosted trees (HistGB, tuned)",
    "lightgbm": "LightGBM (early-stopped)",
    "majority": "majority class",
}
"""What reports call each model (the code names are the keys of the metrics files)."""


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


def _ordered(labels: pd.Series, order: list[str]) -> pd.Series:
    """``labels`` as an ordered categorical: ``order`` first, then any other label (``"nan"``)."""
    rest = sorted(set(labels) - set(order))
    return pd.Series(
        pd.Categorical(labels, categories=[*order, *rest], ordered=True), index=labels.index
    )


def _number_name(value: float) -> str:
    """A number as a slice label: ``"2"`` for 2.0, ``"2.5"`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _interval_names(edges: pd.IntervalIndex) -> list[str]:
    """``"(7.76, 11.58]"`` per quantile bin, with as few significant digits (4 at least) as keep
    the labels apart."""
    for digits in range(4, 18):
        names = [f"({i.left:.{digits}g}, {i.right:.{digits}g}]" for i in edges]
        if len(set(names)) == len(names):
            return names
    return [str(i) for i in edges]


def slice_values(values: pd.Series, max_levels: int = 12, bins: int = 4) -> pd.Series:
    """Slice labels of a column, as an ordered categorical of text: its values (numbers in
    numeric order, text in text order), or quartile ranges for a many-valued numeric one (lowest
    first); a missing value is the label ``"nan"``, last."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        labels = values.astype(str).where(values.notna(), "nan").astype(str)
        return _ordered(labels, sorted(set(labels) - {"nan"}))
    if values.nunique() > max_levels:
        binned = pd.qcut(values, bins, duplicates="drop")
        names = _interval_names(binned.cat.categories)
        return _ordered(binned.cat.rename_categories(names).astype(str), names)
    numbers = sorted(values.dropna().unique())
    names = [_number_name(v) for v in numbers]
    return _ordered(values.map(dict(zip(numbers, names, strict=True))).fillna("nan"), names)


def slice_table(
    frame: pd.DataFrame,
    y: np.ndarray,
    probs: Mapping[str, np.ndarray],
    slices: list[str],
    min_rows: int = 30,
) -> pd.DataFrame:
    """ROC AUC of each model per value of each slice column (slices under ``min_rows`` rows or
    with a single class get NaN): where does the model do worse than on average?"""
    rows = []
    y = np.asarray(y)
    for column in slices:
        with about_column(column, "Slicing the test rows by values", SLICE_HINT):
            labels = slice_values(frame[column])
        for value in labels.cat.categories:
            mask = (labels == value).to_numpy()
            if not mask.any():
                continue
            row: dict[str, object] = {
                "slice": column,
                "value": value,
                "rows": int(mask.sum()),
                "positive_rate": float(y[mask].mean()),
            }
            usable = mask.sum() >= min_rows and 0 < y[mask].sum() < mask.sum()
            for name, p in probs.items():
                row[f"auc_{name}"] = (
                    float(roc_auc_score(y[mask], np.asarray(p)[mask])) if usable else float("nan")
                )
            rows.append(row)
    columns = ["slice", "value", "rows", "positive_rate", *(f"auc_{m}" for m in probs)]
    table = pd.DataFrame(rows, columns=columns)  # values in slice order: numbers by value
    return table.sort_values("slice", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and how it was chosen (on the validation window).

    ``rule`` is ``max_f1`` or ``min_cost`` (a missed positive costs ``false_negative_cost`` false
    alarms); ``precision``/``recall``/``f1``/``positive_share`` are measured at ``value`` on the
    rows it was chosen on.
    """

    value: float
    rule: str
    false_negative_cost: float
    precision: float
    recall: float
    f1: float
    positive_share: float


def at_threshold(y: np.ndarray, p: np.ndarray, value: float) -> dict[str, float]:
    """Precision, recall, F1 and the share predicted positive when ``p >= value``."""
    pred = p >= value
    tp = float(np.sum(pred & (y == 1)))
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float((y == 1).sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "positive_share": float(pred.mean()),
    }


def choose_threshold(
    y: np.ndarray, p: np.ndarray, rule: str, false_negative_cost: float = 1.0
) -> Threshold:
    """The threshold on ``p`` that maximises F1 (``max_f1``) or minimises the expected cost
    ``false positives + false_negative_cost * false negatives`` (``min_cost``).

    Candidates are the distinct scores (predict positive when ``p >= threshold``); ties go to the
    highest threshold.
    """
    if rule not in ("max_f1", "min_cost"):
        raise ValueError(f"unknown threshold rule {rule!r}; use 'max_f1' or 'min_cost'")
    y = np.asarray(y).astype(int)
    order = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")
    scores, labels = np.asarray(p, dtype="float64")[order], y[order]
    last = np.r_[scores[1:] != scores[:-1], True]  # last index of each distinct score
    tp = np.cumsum(labels)[last]
    fp = np.cumsum(1 - labels)[last]
    cut = scores[last]
    fn = labels.sum() - tp
    if rule == "max_f1":
        objective = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    else:
        objective = -(fp + false_negative_cost * fn)
    best = int(np.flatnonzero(objective == objective.max())[0])
    value = float(cut[best])
    return Threshold(value, rule, float(false_negative_cost), **at_threshold(y, p, value))


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


def trailing_slices(
    slices: pd.DataFrame, candidate: str, rival: str, margin: float, min_rows: int
) -> pd.DataFrame:
    """Slices with at least ``min_rows`` rows where the candidate's ROC AUC is more than
    ``margin`` below the rival's, worst first."""
    table = slices.assign(gap=slices[f"auc_{candidate}"] - slices[f"auc_{rival}"])
    return table[(table["rows"] >= min_rows) & (table["gap"] < -margin)].sort_values("gap")


def evaluate_findings(
    scores: Mapping[str, Mapping[str, float]],
    comparison: pd.DataFrame,
    slices: pd.DataFrame,
    names: Mapping[str, str],
    margin: float = 0.01,
    min_rows: int = 500,
) -> list[str]:
    """Sentences computed from the evaluation: how the model compares with each baseline
    (paired intervals) and in which slices it trails the tree."""
    model = names.get("model", "the model")
    out = [f"{model}: test ROC AUC {scores['model']['roc_auc']:.4f}."]
    for name, row in comparison.iterrows():
        interval = f"{row['auc_difference']:+.4f} [{row['lo']:+.4f}, {row['hi']:+.4f}]"
        verb = {"better": "is better than", "worse": "is worse than", "tied": "is tied with"}
        out.append(
            f"{model} {verb[row['verdict']]} {names.get(name, name)}: ROC AUC difference "
            f"{interval} (paired bootstrap, 95%)."
        )
    if "auc_hgb" in slices.columns:
        trail = trailing_slices(slices, "model", "hgb", margin, min_rows)
        if trail.empty:
            out.append(
                f"In no slice of {min_rows}+ rows does {model} trail the tree by more than "
                f"{margin:.2f} ROC AUC."
            )
        else:
            where = ", ".join(
                f"{r.slice} {r.value} ({r.gap:+.3f}, {r.rows:,} rows)" for r in trail.itertuples()
            )
            out.append(f"{model} trails the tree by more than {margin:.2f} ROC AUC in: {where}.")
    return out


PROMOTE, REFUSE, CHAMPION = "promote", "refuse", "champion"
"""The champion gate's decisions (``champion``: the model already is the registered champion)."""


def _slice_regressions(
    frame: pd.DataFrame, y: np.ndarray, p_new: np.ndarray, p_old: np.ndarray,
    columns: list[str], max_drop: float, min_rows: int, samples: int, seed: int,
) -> list[dict[str, object]]:  # fmt: skip
    """Every slice of ``min_rows``+ rows with both classes: the challenger's ROC AUC minus the
    champion's, with a paired interval where the point estimate drops more than ``max_drop``
    (only those can block), and whether it blocks (that drop, and an interval below 0)."""
    out: list[dict[str, object]] = []
    for column in columns:
        with about_column(column, "Slicing the gate's rows by values", SLICE_HINT):
            labels = slice_values(frame[column])
        for value in labels.cat.categories:
            mask = (labels == value).to_numpy()
            rows, positives = int(mask.sum()), int(y[mask].sum())
            if rows < min_rows or positives in (0, rows):
                continue
            diff = float(roc_auc_score(y[mask], p_new[mask]) - roc_auc_score(y[mask], p_old[mask]))
            lo = hi = float("nan")
            if diff < -max_drop:
                diff, lo, hi = paired_auc_difference(y[mask], p_new[mask], p_old[mask], samples,
                                                     seed)  # fmt: skip
            blocks = bool(diff < -max_drop and hi < 0)
            out.append({"column": column, "value": str(value), "rows": rows, "diff": diff,
                        "lo": lo, "hi": hi, "blocks": blocks})  # fmt: skip
    return out


def champion_gate(
    y: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray | None,
    frame: pd.DataFrame,
    slice_columns: list[str],
    blessing: Blessing,
    max_drop: float,
    min_slice_rows: int,
    samples: int,
    seed: int,
) -> dict[str, object]:
    """TFX-style value and change thresholds: promote a challenger only if it is blessed, its
    ROC AUC is not below the champion's by more than ``max_drop`` on the same rows (the lower
    end of the paired 95% bootstrap interval of the difference stays above ``-max_drop``), and
    no slice of ``min_slice_rows``+ rows regresses by more than ``max_drop`` (point estimate,
    with a paired interval below 0). ``p_old`` None: there is no champion yet, so a blessed
    model becomes the first. The reasons name every failed rule and slice."""
    y, p_new = np.asarray(y), np.asarray(p_new)
    reasons = [f"not blessed: {r}" for r in blessing.reasons]
    result: dict[str, object] = {"overall": None, "slices": [], "max_drop": max_drop,
                                 "min_slice_rows": min_slice_rows}  # fmt: skip
    if p_old is not None:
        p_old = np.asarray(p_old)
        diff, lo, hi = paired_auc_difference(y, p_new, p_old, samples, seed)
        result["overall"] = {"challenger_roc_auc": float(roc_auc_score(y, p_new)),
                             "champion_roc_auc": float(roc_auc_score(y, p_old)),
                             "diff": diff, "lo": lo, "hi": hi}  # fmt: skip
        if not lo >= -max_drop:
            reasons.append(f"ROC AUC {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] against the champion: "
                           f"the interval reaches below -{max_drop:g}")  # fmt: skip
        slices = _slice_regressions(frame, y, p_new, p_old, slice_columns, max_drop,
                                    min_slice_rows, samples, seed)  # fmt: skip
        result["slices"] = slices
        for s in slices:
            if s["blocks"]:
                reasons.append(f"slice {s['column']}={s['value']} ({s['rows']:,} rows) regresses "
                               f"{s['diff']:+.4f} [{s['lo']:+.4f}, {s['hi']:+.4f}], beyond "
                               f"-{max_drop:g}")  # fmt: skip
    result["decision"] = REFUSE if reasons else PROMOTE
    result["reasons"] = reasons
    if blessing.warnings:
        result["warnings"] = list(blessing.warnings)
    return result


def gate_table(gate: Mapping[str, object]) -> pd.DataFrame:
    """The champion gate's decision as a small table for reports."""
    overall = gate.get("overall") or {}
    champ = gate.get("champion") or {}
    rows = {
        "decision": str(gate["decision"]).upper(),
        "champion": champ.get("version", "none yet") if isinstance(champ, Mapping) else "none yet",
        "ROC AUC difference [95%]": (
            f"{overall['diff']:+.4f} [{overall['lo']:+.4f}, {overall['hi']:+.4f}]"
            if overall
            else "n/a"
        ),
        "allowed drop (evaluate.champion_max_drop)": gate.get("max_drop"),
        "slices compared": len(gate.get("slices") or []),  # type: ignore[arg-type]
        "reasons": "; ".join(gate.get("reasons") or []) or "none",  # type: ignore[arg-type]
        **({"warnings": "; ".join(gate["warnings"])} if gate.get("warnings") else {}),  # type: ignore[arg-type]
    }
    return pd.Series(rows, name="champion gate").to_frame()


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
