"""Baselines on exactly the model's features and split: majority class, logistic regression and a
gradient-boosted tree (scikit-learn). They are fitted here and their predicted probabilities on
the valid and test splits are stored; no model object is pickled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from tabstudy.config import BaselinesConfig
from tabstudy.features import LABEL, FeatureSet

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


def hgb(cfg: BaselinesConfig, spec: FeatureSet, seed: int) -> Pipeline:
    """HistGradientBoosting with native categorical support and validation early stopping."""
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
        learning_rate=cfg.hgb_learning_rate,
        max_iter=cfg.hgb_max_iter,
        max_leaf_nodes=cfg.hgb_max_leaf_nodes,
        categorical_features=list(range(len(cats))),
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )
    return make_pipeline(pre, clf)


FACTORIES: dict[str, Callable[[BaselinesConfig, FeatureSet, int], Pipeline]] = {
    "majority": majority,
    "logreg": logreg,
    "hgb": hgb,
}


def fit_predict(
    train: pd.DataFrame,
    frames: dict[str, pd.DataFrame],
    spec: FeatureSet,
    cfg: BaselinesConfig,
    seed: int,
) -> pd.DataFrame:
    """Fit every baseline on ``train``; return long-format predictions for each frame.

    Returns columns ``split``, ``row`` (row number within the split), ``y`` and one probability
    column per baseline.
    """
    x_cols = spec.categorical() + spec.numeric()
    out = {
        name: pd.DataFrame({"split": name, "row": np.arange(len(f)), LABEL: f[LABEL].to_numpy()})
        for name, f in frames.items()
    }
    for model_name in BASELINES:
        model = FACTORIES[model_name](cfg, spec, seed).fit(train[x_cols], train[LABEL])
        for name, f in frames.items():
            out[name][model_name] = model.predict_proba(f[x_cols])[:, 1]
    return pd.concat(out.values(), ignore_index=True)
