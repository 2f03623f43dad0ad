"""The keras-tuner search over the core network; its search space is the ``tune`` section.

Search space: units, layers, dropout, learning rate (log scale), embedding size and batch size.
Bayesian optimisation maximises validation ROC AUC with the study's seed and ``max_trials``
trials.

**Resumable.** The tuner's state lives in ``.cache/tuner/<key>``, where the key is a digest of
the search configuration, the seed, the training/validation data and the code that builds and
fits a trial. keras-tuner saves the
oracle after every trial, so a search killed mid-way and started again with the same key skips
the trials that finished and runs only the rest. Any change of space, seed, data or model code
gives a new key, so a stale search is never resumed.

**Tracked.** Each trial is a W&B run (:mod:`tabstudy.tracking`): its hyperparameters, per-epoch
metrics and final validation AUC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import pandas as pd

from tabstudy import tracking
from tabstudy.config import TuneConfig
from tabstudy.models.keras_model import Hyperparameters, build_core, fit_examples

PROJECT = "search"


class CoreHyperModel(kt.HyperModel):
    """Builds the core network from a point of the search space; fits with its batch size."""

    def __init__(
        self,
        cfg: TuneConfig,
        sizes: Mapping[str, int],
        n_numeric: int,
        positive_rate: float,
        seed: int,
    ) -> None:
        super().__init__(name="core")
        self.cfg = cfg
        self.seed = seed
        self.sizes = dict(sizes)
        self.n_numeric = n_numeric
        self.positive_rate = positive_rate

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        # a fresh graph per trial, so memory does not grow with the number of trials
        keras.backend.clear_session(free_memory=True)
        c = self.cfg
        chosen = Hyperparameters(
            units=hp.Choice("units", c.units),
            layers=hp.Int("layers", c.min_layers, c.max_layers),
            dropout=hp.Float("dropout", 0.0, c.dropout_max, step=0.05)
            if c.dropout_max > 0
            else 0.0,
            learning_rate=hp.Float("learning_rate", c.lr_min, c.lr_max, sampling="log"),
            embedding_dim=hp.Choice("embedding_dim", c.embedding_dim),
            batch_size=hp.Choice("batch_size", c.batch_size),
        )
        return build_core(self.sizes, self.n_numeric, chosen, self.positive_rate)

    def fit(
        self,
        hp: kt.HyperParameters,
        model: keras.Model,
        train: Any,
        validation_data: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Fit on the encoded splits, batched with the trial's batch size."""
        size = hp.get("batch_size")
        return fit_examples(model, train, validation_data, size, self.seed, **kwargs)


class TrackedBayesianOptimization(kt.BayesianOptimization):
    """Bayesian optimisation that logs every trial as a W&B run."""

    def __init__(self, *args: Any, group: str = "tune", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        values = dict(trial.hyperparameters.values)
        run = tracking.start_run("tune", values, group=self.group, name=f"trial-{trial.trial_id}")
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), tracking.EpochLogger(run)]
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except BaseException:
            run.finish(exit_code=1)
            raise
        best = max(max(h.history.get("val_auc", [float("nan")])) for h in _as_list(histories))
        tracking.finish(run, {"val_auc": best, "trial": trial.trial_id})
        return histories


def _as_list(histories: Any) -> list[Any]:
    return histories if isinstance(histories, list) else [histories]


CODE_FILES: tuple[Path, ...] = (Path(__file__), Path(__file__).with_name("keras_model.py"))


def search_key(cfg: TuneConfig, seed: int, data_files: list[Path]) -> str:
    """Digest of the search space, seed, data, the code that builds and fits a trial and the
    Keras version: same key = the same search, so resuming it cannot mix in stale trials."""
    meta = {"cfg": cfg.model_dump(), "seed": seed, "keras": keras.__version__}
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for f in (*CODE_FILES, *data_files):
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def make_tuner(hypermodel: CoreHyperModel, cfg: TuneConfig, seed: int, directory: Path) -> kt.Tuner:
    """Bayesian optimisation maximising validation ROC AUC, resuming what ``directory`` holds."""
    return TrackedBayesianOptimization(
        hypermodel,
        objective=kt.Objective("val_auc", direction="max"),
        max_trials=cfg.max_trials,
        num_initial_points=min(cfg.initial_points, cfg.max_trials),
        seed=seed,
        directory=str(directory),
        project_name=PROJECT,
        overwrite=False,
        group=f"tune-{Path(directory).name}",
    )


def search(
    tuner: kt.Tuner,
    train: Any,
    valid: Any,
    cfg: TuneConfig,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> None:
    """Run (or finish) the search over cached example datasets; no progress bars."""
    tuner.search(
        train,
        validation_data=valid,
        epochs=cfg.epochs,
        verbose=0,
        callbacks=callbacks or [],
    )


def trials_table(tuner: kt.Tuner, initial_points: int) -> pd.DataFrame:
    """Every trial: its hyperparameters, best validation AUC, and whether it was one of the
    ``initial_points`` random draws or chosen by the Bayesian model; best first."""
    rows = []
    for order, trial in enumerate(sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)):
        rows.append(
            {
                "trial": trial.trial_id,
                **trial.hyperparameters.values,
                "val_auc": trial.score,
                "chosen_by": "random" if order < initial_points else "model",
                "status": str(trial.status),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(["val_auc", "trial"], ascending=[False, True]).reset_index(drop=True)


def search_grid(cfg: TuneConfig) -> dict[str, list[Any]]:
    """The discrete values of the search space (for edge checks)."""
    return {
        "units": list(cfg.units),
        "layers": list(range(cfg.min_layers, cfg.max_layers + 1)),
        "embedding_dim": list(cfg.embedding_dim),
        "batch_size": list(cfg.batch_size),
    }


def best_hyperparameters(tuner: kt.Tuner) -> dict[str, Any]:
    """The winning point as plain JSON-able values."""
    values = dict(tuner.get_best_hyperparameters(1)[0].values)
    values.setdefault("dropout", 0.0)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in sorted(values.items())}
