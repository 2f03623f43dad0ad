"""The ``tune`` stage: keras-tuner's search (random points, then Bayesian optimisation) over
the network's hyperparameters, sized to the data; the best point for ``train``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, paths, reporting
from tabstudy.models import findings, sizing, tuning
from tabstudy.stages.base import ROC_AUC, Stage, metrics, rel, transaction

STAGE = Stage(
    "tune",
    ("tune",),
    deps=(rel(paths.processed_dir()),),
    outs=(rel(paths.best_hparams_file()), rel(paths.findings_file("tune"))),
    metrics=(metrics("tune"),),
    headline=((ROC_AUC, "best_val_auc"),),
    plots=(rel(paths.plots_dir("tune") / "trials.csv"),),
)


@dataclass(frozen=True)
class Result:
    """Every trial, the best point, the sizing notes and the findings."""

    trials: pd.DataFrame
    best: dict[str, Any]
    notes: list[str]
    findings: list[str]


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Search the space (``tune`` section); the tuner's state is kept in ``.cache/tuner/<key>``,
    so an interrupted search resumes."""
    setup = tuning.prepare_search(cfg.tune, cfg.seed)  # batch sizes and epochs sized to the data
    tuner = tuning.make_tuner(
        setup.hypermodel, setup.space, cfg.seed, paths.tuner_dir() / setup.key
    )
    tuning.search(tuner, setup.examples["train"], setup.examples["valid"], setup.space)
    trials = tuning.trials_table(tuner, setup.space.initial_points)
    best = tuning.best_hyperparameters(tuner)
    artifacts.write_json(best, paths.best_hparams_file())
    artifacts.write_csv(trials, paths.plots_dir("tune") / "trials.csv")
    artifacts.write_json(
        {"best_val_auc": float(trials["val_auc"].max()), "trials": len(trials)},
        paths.metrics_file("tune"),
    )
    notes = sizing.warn(
        setup.notes + sizing.edge_notes(best, tuning.search_grid(setup.space), "tune")
    )
    found = findings.tune_findings(trials, best, notes)
    reporting.publish_findings(found, "tune")
    return Result(trials, best, notes, found)
