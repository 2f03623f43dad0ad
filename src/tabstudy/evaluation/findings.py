"""What the evaluate page says in words, computed from its numbers."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tabstudy.evaluation.slices import trailing_slices


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
