"""Baselines on exactly the model's features and split: majority class, logistic regression, a
*tuned* gradient-boosted tree (scikit-learn's HistGradientBoosting) and LightGBM. They are fitted
here and their predicted probabilities on the valid and test splits are stored; no model object is
pickled.

The tree is tuned honestly, on the same time-ordered validation window the Keras model is tuned
on: a seeded random sample of ``baselines.hgb_trials`` points from the grid in params.yaml, each
fitted on the training window with early stopping on the validation window (not on a random
slice of the training rows) and ranked by validation ROC AUC. The winner is refitted without
early stopping for exactly the iterations it kept (same seed and data, so the same trees).

LightGBM (native categorical splits, deterministic row-wise histograms) uses the fixed point of
``baselines.lgbm_*``; only its iteration count is chosen, by early stopping on the same validation
window (:func:`fit_lgbm_on_window`), and the refit keeps exactly that many trees.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import lightgbm
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from tabstudy import families
from tabstudy.config import BaselinesConfig
from tabstudy.spec import LABEL, FeatureSet, about_column

BASELINES: tuple[str, ...] = families.baseline_names()
"""The baselines' code names, in fitting order (declared in :mod:`tabstudy.families`)."""
LGBM_PATIENCE = 20
"""Rounds without a lower validation log loss before LightGBM stops."""
LGBM_THREADS = 2
"""LightGBM threads (the machine is shared; results do not depend on it: deterministic)."""


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


@dataclass(frozen=True)
class LgbmParams:
    """LightGBM's settings (``n_estimators`` = boosting iterations)."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    n_estimators: int = 100


class LgbmFrame(TransformerMixin, BaseEstimator):
    """The feature frame as LightGBM takes it: categoricals as pandas ``category`` with the
    categories fixed on the training rows (unseen and missing values become NaN), numerics as
    float64, in spec order."""

    def __init__(self, categorical: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> None:
        self.categorical = categorical
        self.numeric = numeric

    def fit(self, x: pd.DataFrame, y: object = None) -> LgbmFrame:
        """Learn each categorical's categories (sorted, as text) from ``x``."""
        self.categories_ = {
            c: sorted(x[c].dropna().astype(str).unique().tolist()) for c in self.categorical
        }
        return self

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        """Categoricals on the learned categories, numerics as float64."""
        out = {}
        for c in self.categorical:
            with about_column(c, "LightGBM's categorical encoding"):
                out[c] = pd.Categorical(
                    x[c].astype(str).where(x[c].notna()), categories=self.categories_[c]
                )
        for n in self.numeric:
            with about_column(n, "LightGBM's numeric input"):
                out[n] = x[n].to_numpy(dtype="float64")
        return pd.DataFrame(out, index=x.index)


def lgbm_model(params: LgbmParams, spec: FeatureSet, seed: int) -> Pipeline:
    """LightGBM on the raw feature frame: native categorical splits, deterministic, row-wise
    histograms, two threads, no internal early stopping."""
    clf = lightgbm.LGBMClassifier(
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        n_estimators=params.n_estimators,
        deterministic=True,
        force_row_wise=True,
        n_jobs=LGBM_THREADS,
        random_state=seed,
        verbose=-1,
    )
    return make_pipeline(LgbmFrame(tuple(spec.categorical()), tuple(spec.numeric())), clf)


def lgbm_params(cfg: BaselinesConfig, n_estimators: int | None = None) -> LgbmParams:
    """The point of ``baselines.lgbm_*`` with ``n_estimators`` trees (default: the cap)."""
    return LgbmParams(
        cfg.lgbm_learning_rate,
        cfg.lgbm_num_leaves,
        cfg.lgbm_min_child_samples,
        cfg.lgbm_max_iter if n_estimators is None else n_estimators,
    )


def fit_lgbm_on_window(
    cfg_or_params: BaselinesConfig | LgbmParams,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    spec: FeatureSet,
    seed: int,
) -> tuple[int, float]:
    """Fit LightGBM on ``train`` with early stopping on the ``valid`` window (log loss,
    :data:`LGBM_PATIENCE` rounds); return the iterations kept (at most the cap:
    ``lgbm_max_iter`` or ``n_estimators``) and the valid ROC AUC of the model with that many."""
    params = cfg_or_params
    if isinstance(params, BaselinesConfig):
        params = lgbm_params(params)
    model = lgbm_model(params, spec, seed)
    pre, clf = model[:-1], model[-1]
    x_train = pre.fit_transform(_x(train, spec), train[LABEL])
    x_valid = pre.transform(_x(valid, spec))
    clf.set_params(metric="binary_logloss")
    stop = lightgbm.early_stopping(LGBM_PATIENCE, first_metric_only=True, verbose=False)
    clf.fit(x_train, train[LABEL], eval_set=[(x_valid, valid[LABEL])], callbacks=[stop])
    best = int(clf.best_iteration_) or params.n_estimators
    auc = float(roc_auc_score(valid[LABEL], clf.predict_proba(x_valid, num_iteration=best)[:, 1]))
    return best, auc


def chosen_lgbm(cfg: BaselinesConfig, best_iter: int) -> LgbmParams:
    """LightGBM's settings with ``n_estimators`` = the count :func:`fit_lgbm_on_window` kept."""
    return lgbm_params(cfg, best_iter)


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
    lgbm: LgbmParams | None = None,
) -> pd.DataFrame:
    """Fit every baseline on ``train`` (the tree with ``hgb``, LightGBM with ``lgbm``: pass
    :func:`chosen_lgbm`; without it, LightGBM keeps all ``lgbm_max_iter`` trees); long-format
    predictions.

    Returns columns ``split``, ``row`` (row number within the split), ``y`` and one probability
    column per baseline.
    """
    out = {
        name: pd.DataFrame({"split": name, "row": np.arange(len(f)), LABEL: f[LABEL].to_numpy()})
        for name, f in frames.items()
    }
    models = {name: factory(cfg, spec, seed) for name, factory in FACTORIES.items()}
    models["hgb"] = hgb_model(hgb, spec, seed)
    models["lightgbm"] = lgbm_model(lgbm or lgbm_params(cfg), spec, seed)
    for model_name in BASELINES:
        model = models[model_name].fit(_x(train, spec), train[LABEL])
        for name, f in frames.items():
            out[name][model_name] = model.predict_proba(_x(f, spec))[:, 1]
    return pd.concat(out.values(), ignore_index=True)
