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

**Distributed.** The same :func:`make_tuner` / :func:`search` code runs serially (the tune stage)
or as one process of keras-tuner's own chief/worker search: :func:`set_role` sets
``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` before the tuner
is made; the chief's ``search`` then serves the oracle over gRPC until every trial is done and the
workers' ``search`` fetch trials from it. keras-tuner records nothing about who trained a trial,
so with ``runs=`` a tuner writes one JSON record per training (:func:`read_run_records`).
:mod:`tabstudy.pipeline.tune_distributed` launches the processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import pandas as pd

from tabstudy import artifacts, paths, tracking
from tabstudy.config import TuneConfig
from tabstudy.models import keras_model, sizing
from tabstudy.models.keras_model import Hyperparameters, build_core, fit_examples
from tabstudy.spec import LABEL, load_spec

PROJECT = "search"

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"
CHIEF = "chief"
"""The chief's tuner id. keras-tuner treats *any* id containing "chief" as the chief."""
GP_WARNINGS = r"sklearn\.gaussian_process"
"""Modules whose warnings a search silences (:func:`search`)."""


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
    """Bayesian optimisation that logs every trial as a W&B run and, given ``runs``, writes a
    record of every training there (:func:`write_run_record`)."""

    def __init__(
        self, *args: Any, group: str = "tune", runs: Path | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.group = group
        self.runs = runs

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        values = dict(trial.hyperparameters.values)
        run = tracking.start_run("tune", values, group=self.group, name=f"trial-{trial.trial_id}")
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), tracking.EpochLogger(run)]
        started = time.time()
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except BaseException:
            run.finish(exit_code=1)
            self._record(trial, "FAILED", None, started)
            raise
        best = max(max(h.history.get("val_auc", [float("nan")])) for h in _as_list(histories))
        tracking.finish(run, {"val_auc": best, "trial": trial.trial_id})
        self._record(trial, "COMPLETED", best, started)
        return histories

    def _record(
        self, trial: kt.engine.trial.Trial, status: str, score: float | None, started: float
    ) -> None:
        if self.runs is None:
            return
        record = {
            "trial": trial.trial_id,
            "tuner_id": self.tuner_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "status": status,
            "val_auc": float(score) if score is not None and math.isfinite(score) else None,
            "seconds": round(time.time() - started, 3),
            "finished": time.time(),
            "hyperparameters": _plain(trial.hyperparameters.values),
        }
        write_run_record(self.runs, record)


def _as_list(histories: Any) -> list[Any]:
    return histories if isinstance(histories, list) else [histories]


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameter values as plain JSON-able Python values, sorted by name."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in sorted(values.items())}


def write_run_record(runs: Path, record: Mapping[str, Any]) -> Path:
    """Write one training's record as its own JSON file in ``runs``, atomically (a temporary
    name, then a rename), so concurrent tuners never interleave and a killed one leaves no
    partial record. Returns the file."""
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / f"{record['trial']}-{record['tuner_id']}-{record['pid']}-{time.time_ns()}.json"
    artifacts.write_text(json.dumps(record, sort_keys=True), final, staged=False)
    return final


RUN_COLUMNS = ["trial", "tuner_id", "host", "pid", "status", "val_auc", "seconds", "finished"]


def read_run_records(runs: Path) -> pd.DataFrame:
    """One row per training a tuner recorded in ``runs``: the trial id, the tuner id (``chief``,
    ``tuner0``, ...; ``tuner0`` in a serial search), host, pid, status, best validation AUC,
    seconds, when it finished (epoch seconds) and the hyperparameters (a dict); ordered by
    trial, then by when it finished."""
    files = sorted(Path(runs).glob("*.json")) if Path(runs).is_dir() else []
    rows = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    table = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "hyperparameters"])
    return table.sort_values(["trial", "finished"], kind="stable").reset_index(drop=True)


def set_role(tuner_id: str, oracle_host: str, oracle_port: int) -> None:
    """Make this process one tuner of a distributed search: set keras-tuner's environment
    (:func:`role_env`). Call it before :func:`make_tuner`: the tuner reads it when made."""
    os.environ.update(role_env(tuner_id, oracle_host, oracle_port))


def role_env(tuner_id: str, oracle_host: str, oracle_port: int) -> dict[str, str]:
    """keras-tuner's environment for one process of a distributed search.

    Args:
        tuner_id: :data:`CHIEF` for the process that serves the oracle; a unique id without
            "chief" in it (``tuner0``, ``tuner1``, ...) for each worker.
        oracle_host: the chief's address: the chief binds it (``0.0.0.0`` = every interface),
            workers connect to it.
        oracle_port: the chief's gRPC port.

    Raises:
        ValueError: an empty id, a worker id containing "chief", or a port outside 1-65535.
    """
    if not tuner_id or (tuner_id != CHIEF and CHIEF in tuner_id):
        raise ValueError(
            f"tuner id {tuner_id!r}: use {CHIEF!r} for the chief and an id without "
            f"{CHIEF!r} in it (tuner0, tuner1, ...) for a worker"
        )
    if not 0 < oracle_port < 65536:
        raise ValueError(f"oracle port {oracle_port}: must be in 1-65535")
    return {TUNER_ID_ENV: tuner_id, ORACLE_IP_ENV: oracle_host, ORACLE_PORT_ENV: str(oracle_port)}


def is_chief() -> bool:
    """Whether this process is the chief of a distributed search (keras-tuner's own test)."""
    return ORACLE_IP_ENV in os.environ and CHIEF in os.environ.get(TUNER_ID_ENV, "")


@dataclass(frozen=True)
class SearchSetup:
    """What a search runs on: the space sized to the data, the sizing notes, the encoded
    ``train``/``valid`` examples (empty when not asked for), the hypermodel and the search key."""

    space: TuneConfig
    notes: list[str]
    examples: dict[str, Any]
    hypermodel: CoreHyperModel
    key: str


def prepare_search(tune: TuneConfig, seed: int, with_examples: bool = True) -> SearchSetup:
    """Seed and make ops deterministic, read the processed train split, size the space to it,
    build the preprocessor from the feature spec, encode train/valid (unless
    ``with_examples`` is false: a distributed search's chief trains nothing) and make the
    hypermodel and the search key: the tune stage's set-up, in one call."""
    keras_model.set_determinism(seed)
    split_files = [paths.processed(name) for name in ("train", "valid")]
    train = pd.read_parquet(split_files[0])
    space, notes = sizing.sized_tune(tune, len(train))
    pre = keras_model.build_preprocessor(train, load_spec())
    examples = (
        {f.stem: keras_model.encoded_examples(f, pre) for f in split_files} if with_examples else {}
    )
    hypermodel = CoreHyperModel(
        space, keras_model.vocab_sizes(pre), keras_model.numeric_width(pre),
        float(train[LABEL].mean()), seed,
    )  # fmt: skip
    return SearchSetup(space, notes, examples, hypermodel, search_key(space, seed, split_files))


CODE_FILES: tuple[Path, ...] = (Path(__file__), Path(__file__).with_name("keras_model.py"))


def search_key(cfg: TuneConfig, seed: int, data_files: list[Path]) -> str:
    """Digest of the search space, seed, data, the code that builds and fits a trial and the
    Keras version: same key = the same search, so resuming it cannot mix in stale trials."""
    # how many workers run a search does not change what it searches
    meta = {"cfg": cfg.model_dump(exclude={"workers"}), "seed": seed, "keras": keras.__version__}
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for f in (*CODE_FILES, *data_files):
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def make_tuner(
    hypermodel: CoreHyperModel,
    cfg: TuneConfig,
    seed: int,
    directory: Path,
    runs: Path | None = None,
) -> kt.Tuner:
    """Bayesian optimisation maximising validation ROC AUC, resuming what ``directory`` holds.

    In a process given a role by :func:`set_role` it is that role's tuner: the chief's serves
    the oracle, a worker's asks the chief for trials. With ``runs``, every training writes its
    record there (:func:`read_run_records`).
    """
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
        runs=runs,
    )


def search(
    tuner: kt.Tuner,
    train: Any,
    valid: Any,
    cfg: TuneConfig,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> None:
    """Run (or finish) the search over cached example datasets; no progress bars.

    On a distributed search's chief this serves the oracle and returns when every trial is done
    and every worker was told to stop (the data is not used there).

    scikit-learn's Gaussian process (the Bayesian oracle's model) warns when a fitted length
    scale lands on its bound, as it routinely does with a handful of trials. Those warnings are
    silenced here: a resumed search skips the oracle steps that printed them, so the tune page
    would differ between a workspace with a tuner cache and a fresh clone; the trials table
    already says which trials the model chose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=GP_WARNINGS)
        tuner.search(
            train,
            validation_data=valid,
            epochs=cfg.epochs,
            verbose=0,
            callbacks=callbacks or [],
        )
    if is_chief():
        # keras-tuner's oracle saves itself before it drops an ended trial from its ongoing
        # ones, and the chief never saves again: resumed as is, the last trial would run twice
        tuner.save()


def trials_table(tuner: kt.Tuner, initial_points: int, runs: Path | None = None) -> pd.DataFrame:
    """Every trial: its hyperparameters, best validation AUC, and whether it was one of the
    ``initial_points`` random draws or chosen by the Bayesian model; best first.

    With ``runs`` (the records of :func:`read_run_records`), also ``worker``: the tuner ids that
    trained it, in order, and ``runs``: how many trainings it took. Needs the oracle itself: a
    serial tuner or a distributed search's chief, not a worker."""
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
    if runs is not None:
        table = _with_workers(table, read_run_records(runs))
    return table.sort_values(["val_auc", "trial"], ascending=[False, True]).reset_index(drop=True)


def _with_workers(table: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the ``worker`` and ``runs`` columns of each trial from its records."""
    by_trial = records.groupby("trial", sort=False)["tuner_id"]
    workers = by_trial.agg(lambda ids: ",".join(ids)).rename("worker")
    counts = by_trial.size().rename("runs")
    table = table.join(workers, on="trial").join(counts, on="trial")
    return table.assign(worker=table["worker"].fillna(""), runs=table["runs"].fillna(0).astype(int))


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
    return _plain(values)
