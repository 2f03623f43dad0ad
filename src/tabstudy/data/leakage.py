"""The leakage guard: every feature scored alone against the label on the training window.

A feature that separates the label almost perfectly on its own is, far more often than not, a
part of the outcome or something recorded after it (a count that makes up the target, a status
set when the case closed). The features stage stops on such a feature unless the study lists it
under ``features.allow_leaky`` with a reason, which the model card then shows.

Scores:

* a numeric feature: the ROC AUC of its values (missing values ranked lowest), taken in the
  direction that separates better (``max(auc, 1 - auc)``);
* a categorical feature: the ROC AUC of a one-feature model, the category's smoothed positive
  rate, fitted on one half of the rows and scored on the other (both ways), so an identifier
  that is unique on every row scores 0.5, not 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from tabstudy.spec import LABEL, MISSING_CATEGORY, FeatureSet, about_column

SMOOTHING = 10.0
"""Pseudo-count pulling a category's rate toward the overall rate (one-feature model)."""
MAX_ROWS = 200_000
"""Rows scored at most (a seeded sample above it): the score's error is then below 0.002."""


class LeakageError(ValueError):
    """A feature alone separates the label beyond ``features.leakage_auc``."""


def _separation(y: np.ndarray, score: np.ndarray) -> float:
    auc = float(roc_auc_score(y, score))
    return max(auc, 1.0 - auc)


def numeric_auc(values: pd.Series, y: np.ndarray) -> float:
    """ROC AUC of a numeric feature's values, either direction (missing ranked lowest)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    finite = np.isfinite(x)
    low = np.min(x[finite]) - 1.0 if finite.any() else 0.0
    return _separation(y, np.where(finite, x, low))


def categorical_auc(values: pd.Series, y: np.ndarray, seed: int = 0) -> float:
    """ROC AUC of the category's smoothed positive rate, fitted out of fold (two halves)."""
    codes = values.astype("string").fillna(MISSING_CATEGORY).to_numpy(dtype=object)
    half = np.random.default_rng(seed).permutation(len(codes)) % 2 == 0
    score = np.empty(len(codes), dtype="float64")
    for fit in (half, ~half):
        frame = pd.DataFrame({"c": codes[fit], "y": y[fit]})
        prior = float(frame["y"].mean()) if len(frame) else 0.5
        stats = frame.groupby("c")["y"].agg(["sum", "count"])
        rate = (stats["sum"] + SMOOTHING * prior) / (stats["count"] + SMOOTHING)
        score[~fit] = pd.Series(codes[~fit]).map(rate).fillna(prior).to_numpy(dtype="float64")
    return _separation(y, score)


def scores(train: pd.DataFrame, spec: FeatureSet, seed: int = 0) -> pd.DataFrame:
    """Every feature's single-feature ROC AUC on ``train`` (label in :data:`LABEL`), highest
    first: columns ``feature``, ``kind``, ``auc``. Empty when the label has one class."""
    if len(train) > MAX_ROWS:
        train = train.sample(MAX_ROWS, random_state=seed)
    y = train[LABEL].to_numpy()
    rows = []
    if len(np.unique(y)) == 2:
        for f in spec.features:
            with about_column(f.name, f"Leakage scoring ({f.kind})"):
                auc = (
                    categorical_auc(train[f.name], y, seed)
                    if f.kind == "categorical"
                    else numeric_auc(train[f.name], y)
                )
            rows.append({"feature": f.name, "kind": f.kind, "auc": auc})
    out = pd.DataFrame(rows, columns=["feature", "kind", "auc"])
    return out.sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)


def check(table: pd.DataFrame, bound: float, allowed: Mapping[str, str]) -> None:
    """Pass when every feature of the :func:`scores` ``table`` above ``bound`` is accepted by
    ``allowed``.

    Raises:
        LeakageError: naming every feature above ``bound`` that ``allowed`` does not list, its
            AUC, and the two ways on; or a name in ``allowed`` that is not a feature.
    """
    unknown = sorted(set(allowed) - set(table["feature"]))
    if unknown:
        raise LeakageError(
            f"features.allow_leaky names {unknown}, which are not features of this study "
            f"(features: {list(table['feature'])[:12]})"
        )
    above = table[table["auc"] > bound]
    refused = above[~above["feature"].isin(list(allowed))]
    if not refused.empty:
        lines = [
            f"feature '{r.feature}' ({r.kind}) alone reaches ROC AUC {r.auc:.4f} on the "
            f"training window, above features.leakage_auc {bound:g}"
            for r in refused.itertuples()
        ]
        raise LeakageError(
            "suspected label leakage:\n  " + "\n  ".join(lines) + "\nA feature this close to the "
            "label is usually part of the outcome or recorded after it. Either add it to "
            "features.exclude, or, if it is truly known when the prediction is made, list it "
            "under features.allow_leaky with the reason (e.g. {"
            f"{refused['feature'].iloc[0]}: 'why it is known in time'"
            "}); the reason goes into the model card."
        )


def guard(
    train: pd.DataFrame,
    spec: FeatureSet,
    bound: float,
    allowed: Mapping[str, str],
    seed: int = 0,
) -> tuple[FeatureSet, pd.DataFrame]:
    """Score every feature on the training window and stop on suspected leakage (:func:`check`);
    return the spec carrying the bound, the reasons of the accepted features that score above
    it (an allowed one under it is no exception) and the strongest feature with its ROC AUC,
    and the scores."""
    table = scores(train, spec, seed)
    check(table, bound, allowed)
    top = (
        (str(table["feature"].iloc[0]), round(float(table["auc"].iloc[0]), 6))
        if len(table)
        else None
    )
    above = set(table.loc[table["auc"] > bound, "feature"])
    accepted = {name: reason for name, reason in allowed.items() if name in above}
    return replace(spec, leakage_auc=bound, leaky=accepted, strongest=top), table
