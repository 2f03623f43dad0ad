"""Rolling-origin evaluation: every candidate refitted at every fold origin on every feature-set
variant, scored on the fold's test rows; metrics per fold, their spread, and paired comparisons
with a bootstrap that resamples rows within each fold.

ROC AUC under a bootstrap resample is computed from row weights (how often each row was drawn)
over one sort of the scores, many resamples at once with NumPy, so hundreds of resamples of tens
of thousands of rows take seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tabstudy import evaluation
from tabstudy.backtest.candidates import Candidate
from tabstudy.backtest.folds import Fold, fold_rows
from tabstudy.spec import LABEL, FeatureSet
from tabstudy.stats import chunks, stratified_weights, weighted_auc

METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier")
KEYS: list[str] = ["fold", "variant", "model"]


def _time_column(spec: FeatureSet) -> str:
    if spec.time_column is None:
        raise ValueError("a rolling-origin backtest needs the feature set's time_column")
    return spec.time_column


def run_folds(
    frame: pd.DataFrame,
    spec: FeatureSet,
    folds: Sequence[Fold],
    candidates: Sequence[Candidate],
    variants: Mapping[str, FeatureSet],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Refit every candidate on every fold's training rows for every variant; score its test rows.

    Args:
        frame: the time-stamped rows (features, :data:`LABEL`, ``spec.time_column``).
        spec: the full feature set (its ``time_column`` places rows in folds).
        folds: from :func:`tabstudy.backtest.folds.rolling_folds`.
        candidates: the models (:mod:`tabstudy.backtest.candidates`).
        variants: feature sets by variant name (e.g. all features, and an ablation).
        seed: passed to every fit.

    Returns:
        ``predictions`` (long: ``fold``, ``variant``, ``model``, ``row`` = position among the
        fold's test rows, ``y``, ``p``) and ``fits`` (one row per fold, variant and model:
        ``train_rows``, ``test_rows``, ``fit_seconds`` = seconds to fit and score). Folds without
        test rows are skipped.

    Raises:
        ValueError: a fold has test rows but no training rows, or no fold has test rows.
    """
    time_col = _time_column(spec)
    preds, fits = [], []
    for fold in folds:
        train, test = fold_rows(frame, time_col, fold)
        if test.empty:
            continue
        if train.empty:
            raise ValueError(f"fold {fold.name} has no training rows before {fold.origin}")
        y = test[LABEL].to_numpy()
        for variant, features in variants.items():
            for cand in candidates:
                start = time.perf_counter()
                p = cand.fit_predict(train, test, features, seed)
                seconds = time.perf_counter() - start
                key = {"fold": fold.name, "variant": variant, "model": cand.name}
                preds.append(pd.DataFrame({**key, "row": np.arange(len(test)), LABEL: y, "p": p}))
                fits.append({**key, "train_rows": len(train), "test_rows": len(test),
                             "fit_seconds": seconds})  # fmt: skip
    if not preds:
        raise ValueError("no fold has test rows")
    return pd.concat(preds, ignore_index=True), pd.DataFrame(fits)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """:func:`tabstudy.evaluation.metrics`, NaN where the rows hold one class only."""
    if len(y) == 0 or y.min() == y.max():
        return dict.fromkeys(METRICS, float("nan"))
    return evaluation.metrics.metrics(y, p)


def fold_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per fold, variant and model (in the order they were run): ``rows``, ``roc_auc``,
    ``pr_auc`` (average precision), ``log_loss`` and ``brier``."""
    rows = [
        {**dict(zip(KEYS, key, strict=True)), "rows": len(g),
         **_metrics(g[LABEL].to_numpy(), g["p"].to_numpy())}
        for key, g in predictions.groupby(KEYS, sort=False)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per variant and model: ``folds``, the mean and sd (ddof=1; NaN with one fold) of every
    metric across folds, and the lowest and highest fold ROC AUC; best mean ROC AUC first within
    each variant."""
    groups = metrics.groupby(["variant", "model"], sort=False)
    out = groups["fold"].nunique().rename("folds").to_frame()
    for m in METRICS:
        out[f"{m}_mean"] = groups[m].mean()
        out[f"{m}_sd"] = groups[m].std(ddof=1)
    out["roc_auc_min"] = groups["roc_auc"].min()
    out["roc_auc_max"] = groups["roc_auc"].max()
    out = out.reset_index()
    order = {v: i for i, v in enumerate(out["variant"].unique())}
    out = out.assign(_v=out["variant"].map(order))
    out = out.sort_values(["_v", "roc_auc_mean"], ascending=[True, False], kind="stable")
    return out.drop(columns="_v").reset_index(drop=True)


def resampled_aucs(
    y: np.ndarray, strata: np.ndarray, scores: Mapping[str, np.ndarray], samples: int, seed: int
) -> dict[str, np.ndarray]:
    """The mean over folds (``strata``) of each score column's within-fold ROC AUC, under the
    same ``samples`` resamples (rows drawn within each fold), so differences between columns are
    paired. Within folds, because each fold's models were trained apart: pooling their scores
    across folds would mix their calibrations into the ranking."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in pd.unique(strata)]
    out: dict[str, list[np.ndarray]] = {k: [] for k in scores}
    for draws in chunks(samples):
        w = stratified_weights(strata, draws, rng)
        for k, p in scores.items():
            per_fold = [weighted_auc(y[g], p[g], w[:, g]) for g in groups]
            out[k].append(np.mean(per_fold, axis=0))
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}


def _fold_aucs(y: np.ndarray, strata: np.ndarray, p: np.ndarray) -> pd.Series:
    frame = pd.DataFrame({"s": strata, "y": y, "p": p})
    return frame.groupby("s", sort=False).apply(
        lambda g: weighted_auc(g["y"].to_numpy(), g["p"].to_numpy(), np.ones((1, len(g))))[0],
        include_groups=False,
    )


def _bootstrap_p(diffs: np.ndarray, samples: int) -> float:
    """Two-sided bootstrap p-value of a zero difference, floored at ``1 / samples``."""
    share = min(np.mean(diffs <= 0), np.mean(diffs >= 0)) if len(diffs) else 0.5
    return float(min(1.0, max(2 * share, 1 / max(samples, 1))))


def _paired(
    y: np.ndarray,
    strata: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    boot: tuple[np.ndarray, np.ndarray],
    samples: int,
    level: float,
) -> dict[str, Any]:
    """Mean within-fold ROC AUC of ``a`` and ``b``, their difference with its percentile
    interval, the bootstrap p-value, the pooled difference (for reference) and a verdict."""
    ones = np.ones((1, len(y)))
    pooled = weighted_auc(y, a, ones)[0] - weighted_auc(y, b, ones)[0]
    diffs = boot[0] - boot[1]
    diffs = diffs[~np.isnan(diffs)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(diffs, [alpha, 1 - alpha]) if len(diffs) else (np.nan, np.nan)
    fold_a, fold_b = _fold_aucs(y, strata, a), _fold_aucs(y, strata, b)
    return {
        "auc_a": float(fold_a.mean()), "auc_b": float(fold_b.mean()),
        "auc_difference": float((fold_a - fold_b).mean()),
        "lo": float(lo), "hi": float(hi), "p_value": _bootstrap_p(diffs, samples),
        "pooled_difference": float(pooled), "folds": int(fold_a.size),
        "rows": len(y), "samples": samples, "level": level,
        "verdict": "better" if lo > 0 else "worse" if hi < 0 else "tied",
    }  # fmt: skip


def _wide(predictions: pd.DataFrame, variants: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Scores side by side on the same (fold, row) pairs, columns (variant, model), and labels."""
    sub = predictions[predictions["variant"].isin(variants)]
    if sub.empty:
        raise ValueError(f"no predictions for variant(s) {list(variants)}")
    wide = sub.pivot(index=["fold", "row"], columns=["variant", "model"], values="p")
    if wide.isna().to_numpy().any():
        raise ValueError("the models were not scored on the same rows of every fold")
    y = sub.drop_duplicates(["fold", "row"]).set_index(["fold", "row"])[LABEL]
    return wide, y.reindex(wide.index).to_numpy()


def paired_comparison(
    predictions: pd.DataFrame,
    variant: str,
    candidate: str = "keras",
    others: Sequence[str] | None = None,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """``candidate`` against each of ``others`` (default: every other model) on the same rows
    of ``variant``: the mean over folds of the within-fold ROC AUC difference.

    Returns one row per other model: ``variant``, ``candidate``, ``other``, ``auc_candidate``,
    ``auc_other``, ``auc_difference`` (candidate minus other), ``lo``/``hi`` (percentile interval
    at ``level`` of a paired bootstrap resampling rows within each fold), ``p_value`` (two-sided,
    floored at 1/samples), ``pooled_difference``, ``folds``, ``rows``, ``samples``, ``level`` and
    ``verdict`` (``better``/``worse`` when the interval excludes 0, else ``tied``).
    """
    wide, y = _wide(predictions, [variant])
    models = list(wide[variant].columns)
    others = [m for m in models if m != candidate] if others is None else list(others)
    strata = wide.index.get_level_values("fold").to_numpy()
    scores = {m: wide[(variant, m)].to_numpy() for m in [candidate, *others]}
    boot = resampled_aucs(y, strata, scores, samples, seed)
    rows = []
    for other in others:
        pair = (boot[candidate], boot[other])
        res = _paired(y, strata, scores[candidate], scores[other], pair, samples, level)
        head = {"variant": variant, "candidate": candidate, "other": other}
        rows.append({**head, "auc_candidate": res.pop("auc_a"), "auc_other": res.pop("auc_b")})
        rows[-1].update(res)
    return pd.DataFrame(rows)


def variant_effect(
    predictions: pd.DataFrame,
    base_variant: str,
    other_variant: str,
    models: Sequence[str] | None = None,
    samples: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per model, ROC AUC on ``base_variant`` (e.g. with a feature group) minus on
    ``other_variant`` (without it), same rows, with the paired fold-stratified bootstrap.

    Returns one row per model: ``model``, ``base_variant``, ``other_variant``, ``auc_base``,
    ``auc_other``, ``auc_difference``, ``lo``, ``hi``, ``p_value``, ``pooled_difference``,
    ``folds``, ``rows``, ``samples``, ``level`` and ``verdict`` (``better``: the base variant is
    better).
    """
    wide, y = _wide(predictions, [base_variant, other_variant])
    common = set(wide[base_variant].columns) & set(wide[other_variant].columns)
    models = [m for m in wide[base_variant].columns if m in common] if models is None else models
    strata = wide.index.get_level_values("fold").to_numpy()
    scores = {f"{v}\0{m}": wide[(v, m)].to_numpy() for m in models
              for v in (base_variant, other_variant)}  # fmt: skip
    boot = resampled_aucs(y, strata, scores, samples, seed)
    rows = []
    for m in models:
        a, b = f"{base_variant}\0{m}", f"{other_variant}\0{m}"
        res = _paired(y, strata, scores[a], scores[b], (boot[a], boot[b]), samples, level)
        head = {"model": m, "base_variant": base_variant, "other_variant": other_variant}
        rows.append({**head, "auc_base": res.pop("auc_a"), "auc_other": res.pop("auc_b")})
        rows[-1].update(res)
    return pd.DataFrame(rows)


def _p(p: float, samples: int) -> str:
    return f"p <= {1 / samples:.3g}" if samples and p <= 1 / samples else f"p = {p:.3f}"


def _interval(row: Mapping[str, Any]) -> str:
    return f"interval {row['lo']:+.4f} to {row['hi']:+.4f}, {_p(row['p_value'], row['samples'])}"


def _summary_sentence(table: pd.DataFrame, variant: str) -> str:
    rows = table[table["variant"] == variant].reset_index(drop=True)
    best = rows.iloc[0]
    rest = ", ".join(f"{r.model} {r.roc_auc_mean:.4f}" for r in rows.iloc[1:].itertuples())
    return (
        f"Over {int(best['folds'])} test folds ({variant}), {best['model']} has the best mean "
        f"ROC AUC, {best['roc_auc_mean']:.4f} (sd {best['roc_auc_sd']:.4f}; folds "
        f"{best['roc_auc_min']:.4f} to {best['roc_auc_max']:.4f})"
        + (f"; then {rest}." if rest else ".")
    )


def rolling_findings(
    summary: pd.DataFrame, comparison: pd.DataFrame, effect: pd.DataFrame | None = None
) -> list[str]:
    """Sentences computed from :func:`summary`, :func:`paired_comparison` and
    :func:`variant_effect` (``None`` or empty: the ablation did not apply)."""
    variant = comparison["variant"].iloc[0] if len(comparison) else summary["variant"].iloc[0]
    out = [_summary_sentence(summary, variant)]
    for r in comparison.to_dict("records"):
        out.append(
            f"{r['candidate']} minus {r['other']}: ROC AUC difference "
            f"{r['auc_difference']:+.4f}, the mean over {r['folds']} folds (paired bootstrap "
            f"within folds, {r['samples']} resamples, {r['level']:.0%} {_interval(r)}): "
            f"{r['verdict']}."
        )
    if effect is None or effect.empty:
        out.append("The feature-group ablation does not apply: the feature set has none of them.")
        return out
    for r in effect.to_dict("records"):
        out.append(
            f"{r['model']}: ROC AUC with '{r['base_variant']}' minus with '{r['other_variant']}' "
            f"is {r['auc_difference']:+.4f} ({_interval(r)}): "
            + {"better": "the features help", "worse": "the features hurt"}.get(
                r["verdict"], "no clear effect"
            )
            + "."
        )
    return out


def plot_folds(metrics: pd.DataFrame) -> Any:
    """ROC AUC per test fold, one line per model, one panel per variant."""
    import matplotlib.pyplot as plt

    variants = list(metrics["variant"].unique())
    fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 3.4), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        sub = metrics[metrics["variant"] == variant]
        for model, g in sub.groupby("model", sort=False):
            ax.plot(g["fold"], g["roc_auc"], marker="o", label=model)
        ax.set(title=variant, xlabel="test fold (origin)", ylabel="ROC AUC")
        ax.tick_params(axis="x", labelrotation=45)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
