"""A small keras-tuner search over the core network (search space from the ``tune`` section)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
import pandas as pd

from tabstudy.config import TuneConfig
from tabstudy.models.keras_model import Hyperparameters, build_core


class CoreHyperModel(kt.HyperModel):
    """Builds the core network from a point of the search space."""

    def __init__(
        self, cfg: TuneConfig, sizes: Mapping[str, int], n_numeric: int, positive_rate: float
    ) -> None:
        super().__init__(name="core")
        self.cfg, self.sizes, self.n_numeric, self.positive_rate = (
            cfg,
            dict(sizes),
            n_numeric,
            positive_rate,
        )

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        keras.backend.clear_session(free_memory=False)
        c = self.cfg
        chosen = Hyperparameters(
            units=hp.Choice("units", c.units),
            layers=hp.Int("layers", c.min_layers, c.max_layers),
            dropout=hp.Float("dropout", 0.0, c.dropout_max, step=0.05)
            if c.dropout_max > 0
            else 0.0,
            learning_rate=hp.Float("learning_rate", c.lr_min, c.lr_max, sampling="log"),
            embedding_dim=c.embedding_dim,
        )
        return build_core(self.sizes, self.n_numeric, chosen, self.positive_rate)


def make_tuner(hypermodel: CoreHyperModel, cfg: TuneConfig, seed: int, directory: Path) -> kt.Tuner:
    """Bayesian optimisation maximising validation ROC AUC; a fresh project every run."""
    return kt.BayesianOptimization(
        hypermodel,
        objective=kt.Objective("val_auc", direction="max"),
        max_trials=cfg.max_trials,
        seed=seed,
        directory=str(directory),
        project_name="search",
        overwrite=True,
    )


def search(
    tuner: kt.Tuner,
    x_train: Any,
    y_train: np.ndarray,
    x_valid: Any,
    y_valid: np.ndarray,
    cfg: TuneConfig,
) -> None:
    """Run the search (one line per trial, no progress bars)."""
    tuner.search(
        x_train,
        y_train,
        validation_data=(x_valid, y_valid),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        verbose=0,
    )


def trials_table(tuner: kt.Tuner) -> pd.DataFrame:
    """Every trial: its hyperparameters and best validation AUC, best first."""
    rows = []
    for trial in tuner.oracle.trials.values():
        rows.append(
            {
                "trial": trial.trial_id,
                **trial.hyperparameters.values,
                "val_auc": trial.score,
                "status": str(trial.status),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(["val_auc", "trial"], ascending=[False, True]).reset_index(drop=True)


def best_hyperparameters(tuner: kt.Tuner, cfg: TuneConfig) -> dict[str, Any]:
    """The winning point as plain JSON-able values (embedding size included)."""
    values = dict(tuner.get_best_hyperparameters(1)[0].values)
    values.setdefault("dropout", 0.0)
    values["embedding_dim"] = cfg.embedding_dim
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in sorted(values.items())}
