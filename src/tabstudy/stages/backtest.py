"""The ``backtest`` stage: rolling-origin evaluation on the folds no tuner saw (every model
refitted on the months before its fold), the delay-propagation effect, and the retraining
policies scored month by month."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, paths, reporting
from tabstudy.backtest import stage as backtest
from tabstudy.models import sizing
from tabstudy.models.keras_model import Hyperparameters, set_determinism
from tabstudy.spec import load_spec
from tabstudy.stages.base import ROC_AUC, Stage, figure, metrics, rel, transaction

STAGE = Stage(
    "backtest",
    ("backtest", "baselines", "monitor"),
    deps=(
        rel(paths.processed_dir()),
        rel(paths.best_hparams_file()),
        rel(paths.baseline_params_file()),
    ),
    outs=(rel(paths.figures_dir("backtest")), rel(paths.findings_file("backtest"))),
    metrics=(metrics("backtest"),),
    headline=((ROC_AUC, "roc_auc_mean.keras"),),
    plots=(rel(paths.plots_dir("backtest")),),
)


@dataclass(frozen=True)
class Result:
    """The backtest's outcome (folds, summary, comparison, policies, findings) and figures."""

    outcome: Any
    figures: dict[str, Any]

    @property
    def findings(self) -> list[str]:
        """The sentences computed from the backtest's numbers."""
        return list(self.outcome.findings)

    def group_section(self) -> list[Any]:
        """The study's feature group left out (flights: delay propagation), as report parts."""
        return list(backtest.group_section(self.outcome))


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Refit and score every candidate on each fold (``backtest``, ``baselines``, ``monitor``)."""
    set_determinism(cfg.seed)
    spec = load_spec()
    splits = {name: pd.read_parquet(paths.processed(name)) for name in paths.SPLITS}
    rows = pd.concat(splits.values(), ignore_index=True)
    tuner_last_day = (
        pd.Timestamp(splits["valid"][spec.time_column].max()).date() if spec.time_column else None
    )
    hparams = Hyperparameters.from_dict(artifacts.read_json(paths.best_hparams_file()))
    budget, notes = (
        sizing.sized_backtest(cfg.backtest, len(splits["train"]), hparams.batch_size)
        if spec.time_column
        else (cfg.backtest, [])
    )
    sizing.warn(notes)
    models = backtest.candidate_set(
        cfg.baselines,
        artifacts.read_json(paths.baseline_params_file()),
        hparams,
        budget.keras_epochs,
    )
    outcome = backtest.run(
        rows, spec, budget, models, tuner_last_day, cfg.seed, cfg.monitor.prediction_psi_alert
    )
    outcome.write(paths.plots_dir("backtest"))
    artifacts.write_json(outcome.metrics_json(), paths.metrics_file("backtest"))
    artifacts.write_json(outcome.timings(), paths.timings_file("backtest"))  # wall times: not DVC's
    figures = {
        name: figure(fig, paths.figure("backtest", name))
        for name, fig in backtest.figures(outcome).items()
    }
    reporting.publish_findings(outcome.findings, "backtest")
    return Result(outcome, figures)
