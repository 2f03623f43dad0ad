"""Baselines on exactly the model's features and split: majority class, logistic regression and a
*tuned* gradient-boosted tree (scikit-learn's HistGradientBoosting). They are fitted here and their
predicted probabilities on the valid and test splits are stored; no model object is pickled.

The tree is tuned honestly, on the same time-ordered validation window the Keras model is tuned
on: a seeded random sample of ``baselines.hgb_trials`` points from the grid in params.yaml, each
fitted on the training window with early stopping on the validation window (not on a random
slice of the training rows) and ranked by validation ROC AUC. The winner is refitted without
early stopping for exactly the iterations it kept (same seed and data, so the same trees).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from tabstudy.config import BaselinesConfig
from tabstudy.spec import LABEL, FeatureSet

BASELINES: tuple[str, ...] = ("majority", "logreg", "hgb")


def majority(cfg: BaselinesConfig, spec: FeatureSet, seed: int) -> Pipeline:
    """Always predicts the training positive rate."""
    return make_pipeline(DummyClassifier(strategy="prior"))


def logreg(cfg: BaselinesConfig, spec: FeatureSet, seed: int) -> Pipeline:
    """One-hot categoricals (rare ones grouped), imputed scaled numerics, logistic regression."""
    pre = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
                spec.categorical(),
            ),
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                spec.numeric(),
            ),
        ]
    )
    clf = LogisticRegression(C=cfg.logreg_c, max_iter=1000, random_state=seed)
    return make_pipeline(pre, clf)


@dataclass(frozen=True)
class HgbParams:
    """One point of the tree's search space (``max_iter`` = boosting iterations)."""

    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    max_iter: int = 100


def hgb_model(params: HgbParams, spec: FeatureSet, seed: int) -> Pipeline:
    """HistGradientBoosting with native categorical support and no internal early stopping."""
    cats = spec.categorical()
    pre = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                cats,
            ),
            ("num", "passthrough", spec.numeric()),
        ]
    )
    clf = HistGradientBoostingClassifier(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=list(range(len(cats))),
        early_stopping=False,
        random_state=seed,
    )
    return make_pipeline(pre, clf)


def hgb_candidates(cfg: BaselinesConfig, seed: int) -> list[HgbParams]:
    """``cfg.hgb_trials`` grid points, sampled without replacement with ``seed`` (grid order)."""
    grid = [
        HgbParams(lr, leaves, leaf, l2, cfg.hgb_max_iter)
        for lr, leaves, leaf, l2 in itertools.product(
            cfg.hgb_learning_rate,
            cfg.hgb_max_leaf_nodes,
            cfg.hgb_min_samples_leaf,
            cfg.hgb_l2_regularization,
        )
    ]
    if len(grid) <= cfg.hgb_trials:
        return grid
    pick = np.random.default_rng(seed).choice(len(grid), cfg.hgb_trials, replace=False)
    return [grid[i] for i in sorted(pick)]


def hgb_grid(cfg: BaselinesConfig) -> dict[str, list[float]]:
    """The tree's grid by :class:`HgbParams` field name (for edge checks)."""
    return {
        "learning_rate": list(cfg.hgb_learning_rate),
        "max_leaf_nodes": list(cfg.hgb_max_leaf_nodes),
        "min_samples_leaf": list(cfg.hgb_min_samples_leaf),
        "l2_regularization": list(cfg.hgb_l2_regularization),
    }


def _x(frame: pd.DataFrame, spec: FeatureSet) -> pd.DataFrame:
    return frame[spec.categorical() + spec.numeric()]


def fit_on_window(
    params: HgbParams, train: pd.DataFrame, valid: pd.DataFrame, spec: FeatureSet, seed: int
) -> tuple[int, float]:
    """Fit on ``train`` with early stopping on the ``valid`` window (log loss, 20 rounds of
    patience); return the iterations kept and the valid ROC AUC."""
    model = hgb_model(params, spec, seed)
    pre, clf = model[:-1], model[-1]
    x_train = pre.fit_transform(_x(train, spec), train[LABEL])
    x_valid = pre.transform(_x(valid, spec))
    clf.set_params(early_stopping=True, scoring="loss", n_iter_no_change=20)
    clf.fit(x_train, train[LABEL], X_val=x_valid, y_val=valid[LABEL])
    auc = float(roc_auc_score(valid[LABEL], clf.predict_proba(x_valid)[:, 1]))
    return int(clf.n_iter_), auc


def tune_hgb(
    train: pd.DataFrame, valid: pd.DataFrame, spec: FeatureSet, cfg: BaselinesConfig, seed: int
) -> pd.DataFrame:
    """Every candidate with its iteration count and validation ROC AUC, best first."""
    rows = []
    for params in hgb_candidates(cfg, seed):
        n_iter, auc = fit_on_window(params, train, valid, spec, seed)
        rows.append({**asdict(params), "best_iter": n_iter, "val_auc": auc})
    table = pd.DataFrame(rows)
    return table.sort_values("val_auc", ascending=False, kind="stable").reset_index(drop=True)


def chosen_hgb(search: pd.DataFrame) -> HgbParams:
    """The winner of :func:`tune_hgb`, with ``max_iter`` set to its best iteration count."""
    best = search.iloc[0]
    return HgbParams(
        float(best["learning_rate"]),
        int(best["max_leaf_nodes"]),
        int(best["min_samples_leaf"]),
        float(best["l2_regularization"]),
        int(best["best_iter"]),
    )


FACTORIES: dict[str, Callable[[BaselinesConfig, FeatureSet, int], Pipeline]] = {
    "majority": majority,
    "logreg": logreg,
}


def fit_predict(
    train: pd.DataFrame,
    frames: dict[str, pd.DataFrame],
    spec: FeatureSet,
    cfg: BaselinesConfig,
    seed: int,
    hgb: HgbParams,
) -> pd.DataFrame:
    """Fit every baseline on ``train`` (the tree with ``hgb``); long-format predictions.

    Returns columns ``split``, ``row`` (row number within the split), ``y`` and one probability
    column per baseline.
    """
    out = {
        name: pd.DataFrame({"split": name, "row": np.arange(len(f)), LABEL: f[LABEL].to_numpy()})
        for name, f in frames.items()
    }
    models = {name: factory(cfg, spec, seed) for name, factory in FACTORIES.items()}
    models["hgb"] = hgb_model(hgb, spec, seed)
    for model_name in BASELINES:
        model = models[model_name].fit(_x(train, spec), train[LABEL])
        for name, f in frames.items():
            out[name][model_name] = model.predict_proba(_x(f, spec))[:, 1]
    return pd.concat(out.values(), ignore_index=True)
