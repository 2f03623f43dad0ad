"""The backtest stage in one call: rolling-origin evaluation of every candidate (with and without
the delay-propagation features), the paired comparison of the Keras model with each baseline, and
the retraining-policy backtest; its tables, findings and DVC metrics.

The rows are the features stage's splits put back together (point-in-time already, so every fold
reuses them). Test folds start after the last day any tuner saw (the validation window's end):
:func:`tabstudy.backtest.folds.check_isolated` refuses anything earlier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tabstudy import artifacts
from tabstudy.backtest import candidates as cands
from tabstudy.backtest import folds as folds_
from tabstudy.backtest import retraining, rolling
from tabstudy.config import BacktestConfig, BaselinesConfig
from tabstudy.models import baselines
from tabstudy.models.keras_model import Hyperparameters
from tabstudy.spec import FeatureSet

ALL = "all features"
WITHOUT = "without delay propagation"
CANDIDATE = "keras"
RETRAINING = "Retraining backtest"
"""The prefix of the retraining sentences (the monitor report and the model card quote them)."""


@dataclass
class Outcome:
    """The backtest's tables and sentences (empty tables when the rows have no time)."""

    folds: pd.DataFrame = field(default_factory=pd.DataFrame)
    fits: pd.DataFrame = field(default_factory=pd.DataFrame)
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    effect: pd.DataFrame = field(default_factory=pd.DataFrame)
    policies: pd.DataFrame = field(default_factory=pd.DataFrame)
    policy_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: list[str] = field(default_factory=list)

    def metrics_json(self) -> dict[str, Any]:
        """The stage's DVC metrics: per model the mean fold ROC AUC, the paired differences,
        the feature group's effect and each policy's mean AUC and cost."""
        if self.summary.empty:
            return {"applicable": False}
        main = self.summary[self.summary["variant"] == ALL].set_index("model")
        out: dict[str, Any] = {
            "applicable": True,
            "folds": int(main["folds"].max()),
            "roc_auc_mean": main["roc_auc_mean"].round(6).to_dict(),
            "roc_auc_sd": main["roc_auc_sd"].round(6).to_dict(),
            "keras_minus": self.comparison.set_index("other")["auc_difference"].round(6).to_dict(),
        }
        if not self.effect.empty:
            out["delay_propagation_gain"] = (
                self.effect.set_index("model")["auc_difference"].round(6).to_dict()
            )
        if not self.policy_summary.empty:
            ps = self.policy_summary.set_index("policy")
            out["policy_roc_auc_mean"] = ps["roc_auc_mean"].round(6).to_dict()
            out["policy_trainings"] = ps["trainings"].astype(int).to_dict()
        return out

    def timings(self) -> dict[str, Any]:
        """Wall seconds of the fits: per rolling-origin model and per retraining policy (the
        same fit charged to every policy that trains that window). They vary from run to run,
        so they are kept out of the DVC outputs (:func:`tabstudy.paths.timings_file`)."""
        if self.fits.empty:
            return {}
        return {
            "rolling_fit_seconds": self.fits.groupby("model", sort=False)["fit_seconds"]
            .sum()
            .round(2)
            .to_dict(),
            "policy_fit_seconds": self.policy_summary.set_index("policy")["fit_seconds"]
            .round(2)
            .to_dict(),
        }

    def write(self, plots: Path) -> None:
        """The tables as CSV in the DVC plots folder (``fold_auc.csv`` and ``policy_auc.csv``
        are wide, one column per model or policy, for ``dvc plots``); without wall times, so
        an equal run writes equal bytes."""
        drop = lambda t: t.drop(columns=["fit_seconds"], errors="ignore")  # noqa: E731
        artifacts.write_csv(self.folds, plots / "folds.csv")
        artifacts.write_csv(self.metrics, plots / "fold_metrics.csv")
        artifacts.write_csv(drop(self.fits), plots / "fits.csv")
        artifacts.write_csv(self.comparison, plots / "comparison.csv")
        artifacts.write_csv(self.effect, plots / "delay_propagation.csv")
        artifacts.write_csv(drop(self.policies), plots / "policies.csv")
        artifacts.write_csv(drop(self.policy_summary), plots / "policy_summary.csv")
        artifacts.write_csv(rolling_summary(self.summary), plots / "rolling_summary.csv")
        artifacts.write_csv(wide(self.metrics, "fold", "model", ALL), plots / "fold_auc.csv")
        artifacts.write_csv(wide(self.policies, "month", "policy"), plots / "policy_auc.csv")


def wide(table: pd.DataFrame, index: str, columns: str, variant: str | None = None) -> pd.DataFrame:
    """ROC AUC with one column per model or policy (a DVC plot's table)."""
    if table.empty:
        return pd.DataFrame({index: []})
    rows = table if variant is None else table[table["variant"] == variant]
    out = rows.pivot(index=index, columns=columns, values="roc_auc")
    return out[list(dict.fromkeys(rows[columns]))].reset_index()


def rolling_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The card's table: per model, folds and the fold ROC AUC's mean, sd, min and max."""
    if summary.empty:
        return pd.DataFrame(columns=["model", "folds", "mean", "sd", "min", "max"])
    main = summary[summary["variant"] == ALL]
    return pd.DataFrame({
        "model": main["model"], "folds": main["folds"], "mean": main["roc_auc_mean"],
        "sd": main["roc_auc_sd"], "min": main["roc_auc_min"], "max": main["roc_auc_max"],
    }).reset_index(drop=True)  # fmt: skip


def candidate_set(
    cfg: BaselinesConfig, params: Mapping[str, Any], hparams: Hyperparameters, keras_epochs: int
) -> list[cands.Candidate]:
    """The four candidates with what the baselines and tune stages chose."""
    return [
        cands.logreg(cfg),
        cands.hgb(baselines.HgbParams(**params["hgb"])),
        cands.lightgbm(baselines.LgbmParams(**params["lightgbm"])),
        cands.keras(hparams, keras_epochs),
    ]


def fold_table(frame: pd.DataFrame, time_col: str, folds: list[folds_.Fold]) -> pd.DataFrame:
    """The folds with their dates and row counts."""
    rows = []
    for f in folds:
        train, test = folds_.fold_rows(frame, time_col, f)
        dates = {"train_start": f.train_start, "origin": f.origin, "test_end": f.test_end}
        rows.append({"fold": f.name, **dates, "train_rows": len(train), "test_rows": len(test)})
    return pd.DataFrame(rows)


def run(
    frame: pd.DataFrame,
    spec: FeatureSet,
    cfg: BacktestConfig,
    models: list[cands.Candidate],
    tuner_last_day: date,
    seed: int,
    prediction_psi_alert: float,
) -> Outcome:
    """The whole backtest (see the module docstring); ``tuner_last_day`` is the validation
    window's last day."""
    if spec.time_column is None:
        return Outcome(findings=[
            "Backtest: not applicable, the rows have no time column (a random split): there is "
            "no time axis to roll an origin along or to retrain on."
        ])  # fmt: skip
    time_col = spec.time_column
    first_test = cfg.first_test or tuner_last_day + timedelta(days=1)
    fold_list = folds_.rolling_folds(
        frame[time_col], first_test, cfg.fold, cfg.train_window, cfg.train_months
    )
    folds_.check_isolated(fold_list, tuner_last_day)
    group = cands.feature_group(spec)
    variants = {ALL: spec, **({WITHOUT: cands.drop_features(spec, group)} if group else {})}
    preds, fits = rolling.run_folds(frame, spec, fold_list, models, variants, seed)
    metrics = rolling.fold_metrics(preds)
    summary = rolling.summary(metrics)
    comparison = rolling.paired_comparison(
        preds, ALL, CANDIDATE, samples=cfg.bootstrap_samples, seed=seed
    )
    effect = (
        rolling.variant_effect(preds, ALL, WITHOUT, samples=cfg.bootstrap_samples, seed=seed)
        if group
        else pd.DataFrame()
    )
    found = rolling.rolling_findings(summary, comparison, effect if group else None)
    by_name = {m.name: m for m in models}
    policies = retraining.backtest(
        frame, spec, time_col, by_name[cfg.policy_model], cfg.policies, cfg.initial_months,
        cfg.train_months, seed, retraining.score_shift_alert(prediction_psi_alert),
    )  # fmt: skip
    policy_summary = retraining.policy_summary(policies)
    found += [f"{RETRAINING} ({cfg.policy_model}): {s}"
              for s in retraining.policy_findings(policy_summary)]  # fmt: skip
    return Outcome(
        fold_table(frame, time_col, fold_list), fits, metrics, summary, comparison, effect,
        policies, policy_summary, found,
    )  # fmt: skip


GROUP_NOTE = (
    "**Delay propagation.** Every candidate is refitted without the `prev_leg_*` features (the "
    "aircraft's previous New York departure, when known at prediction time): each model with and "
    "without them, the same way; the difference is what the feature group buys, with an interval."
)
"""The page's words on the feature group the backtest leaves out (the flights' previous leg,
:func:`~tabstudy.backtest.candidates.feature_group`)."""


def group_section(outcome: Outcome) -> list[str | pd.DataFrame]:
    """The page's section on the feature group left out: :data:`GROUP_NOTE` and the effect
    table; nothing when the spec has no such group (or the rows no time)."""
    return [] if outcome.effect.empty else [GROUP_NOTE, outcome.effect.round(4)]


def figures(outcome: Outcome) -> dict[str, Any]:
    """The backtest's figures by name (one saying why, when it did not apply)."""
    if outcome.metrics.empty:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "\n".join(outcome.findings) or "not applicable", ha="center",
                va="center", wrap=True)  # fmt: skip
        return {"not_applicable": fig}
    return {
        "rolling_folds": rolling.plot_folds(outcome.metrics),
        "retraining": retraining.plot_policies(outcome.policies),
    }
