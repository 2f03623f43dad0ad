"""The models a backtest refits on every training window, behind one small protocol, and the
feature-set variants (ablations) they are refitted on.

Each candidate keeps the settings its stage chose on the tuning window (the tree's grid point,
LightGBM's iteration count, the Keras hyperparameters) and only relearns weights, so the folds
measure the chosen models, not a new search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from tabstudy.config import BaselinesConfig
from tabstudy.models import baselines
from tabstudy.spec import LABEL, FeatureSet

if TYPE_CHECKING:  # Keras (TensorFlow) is imported only when a Keras candidate fits
    from tabstudy.models.keras_model import Hyperparameters

DELAY_PROPAGATION_PREFIX = "prev_leg_"
"""Names of the delay-propagation features (the aircraft's previous leg) start with this."""


class Candidate(Protocol):
    """A model a backtest can refit: ``fit_predict`` learns on ``train`` and returns the
    positive-class probabilities of the ``test`` rows, in their order."""

    name: str

    def fit_predict(
        self, train: pd.DataFrame, test: pd.DataFrame, spec: FeatureSet, seed: int
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class EstimatorCandidate:
    """A scikit-learn-style estimator on the spec's feature columns; ``build(spec, seed)``
    returns an unfitted one."""

    name: str
    build: Callable[[FeatureSet, int], Any]

    def fit_predict(
        self, train: pd.DataFrame, test: pd.DataFrame, spec: FeatureSet, seed: int
    ) -> np.ndarray:
        """Fit on ``train``'s features and label; probabilities of ``test``."""
        cols = spec.categorical() + spec.numeric()
        model = self.build(spec, seed).fit(train[cols], train[LABEL])
        return np.asarray(model.predict_proba(test[cols])[:, 1], dtype="float64")


def logreg(cfg: BaselinesConfig) -> EstimatorCandidate:
    """The logistic-regression baseline (``baselines.logreg_c``)."""
    return EstimatorCandidate("logreg", lambda spec, seed: baselines.logreg(cfg, spec, seed))


def hgb(params: baselines.HgbParams) -> EstimatorCandidate:
    """The tuned HistGradientBoosting tree (the baselines stage's grid point and iterations)."""
    return EstimatorCandidate("hgb", lambda spec, seed: baselines.hgb_model(params, spec, seed))


def lightgbm(params: baselines.LgbmParams) -> EstimatorCandidate:
    """LightGBM with the iteration count the baselines stage chose by early stopping."""
    return EstimatorCandidate(
        "lightgbm", lambda spec, seed: baselines.lgbm_model(params, spec, seed)
    )


@dataclass(frozen=True)
class KerasCandidate:
    """The tuned Keras network, trained for a fixed ``epochs`` (a fold has no validation window
    to stop on), its preprocessor adapted on the fold's training rows, seeded before each fit."""

    hparams: Hyperparameters
    epochs: int
    name: str = "keras"

    def fit_predict(
        self, train: pd.DataFrame, test: pd.DataFrame, spec: FeatureSet, seed: int
    ) -> np.ndarray:
        """Encode ``train`` in memory, fit the core, score ``test`` through the preprocessor."""
        from tabstudy.models import keras_model as km

        km.set_determinism(seed)
        pre = km.build_preprocessor(train, spec)
        hp = self.hparams
        core = km.build_core(
            km.vocab_sizes(pre), km.numeric_width(pre), hp, float(train[LABEL].mean())
        )
        km.fit_examples(
            core, km.encoded_frame(train, pre), None, hp.batch_size, seed,
            epochs=self.epochs, verbose=0,
        )  # fmt: skip
        scores = core.predict(km.encode(pre, test), batch_size=65536, verbose=0)
        return np.asarray(scores, dtype="float64").reshape(-1)


def keras(hparams: Hyperparameters, epochs: int) -> KerasCandidate:
    """The Keras model with the tuned ``hparams`` (``backtest.keras_epochs`` epochs a fit)."""
    return KerasCandidate(hparams, epochs)


def feature_group(spec: FeatureSet, prefix: str = DELAY_PROPAGATION_PREFIX) -> list[str]:
    """The spec's features whose names start with ``prefix`` (may be empty)."""
    return [n for n in spec.names() if n.startswith(prefix)]


def drop_features(spec: FeatureSet, names: Iterable[str]) -> FeatureSet:
    """The spec without the features ``names`` (names it lacks are ignored; with none of them,
    ``spec`` itself is returned, so ``drop_features(spec, g) is spec`` means the ablation does
    not apply)."""
    gone = set(names) & set(spec.names())
    if not gone:
        return spec
    if gone == set(spec.names()):
        raise ValueError(f"dropping {sorted(gone)} would leave no features")
    return replace(spec, features=tuple(f for f in spec.features if f.name not in gone))
