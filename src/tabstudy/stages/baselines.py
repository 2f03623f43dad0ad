"""The ``baselines`` stage: the models the network must beat (majority class, logistic
regression, a histogram gradient-boosted tree tuned on the validation window, LightGBM with
early stopping), their validation and test predictions, and the chosen tree settings."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tabstudy import artifacts, config, evaluation, paths, reporting
from tabstudy.models import baselines, findings, sizing
from tabstudy.spec import LABEL, load_spec
from tabstudy.stages.base import Stage, metrics, rel, transaction

STAGE = Stage(
    "baselines",
    ("baselines",),
    deps=(rel(paths.processed_dir()),),
    outs=(
        rel(paths.baseline_predictions()),
        rel(paths.baseline_params_file()),
        rel(paths.findings_file("baselines")),
    ),
    metrics=(metrics("baselines"),),
    plots=(rel(paths.plots_dir("baselines") / "hgb_search.csv"),),
)


@dataclass(frozen=True)
class Result:
    """The tree search, the validation scores, the sizing notes and the findings."""

    search: pd.DataFrame
    scores: dict[str, dict[str, float]]
    notes: list[str]
    findings: list[str]

    def scores_table(self) -> pd.DataFrame:
        """Each baseline's validation scores, by its display name."""
        return evaluation.metrics.named(evaluation.metrics.scores_table(self.scores)).round(3)


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Fit, tune and score the baselines (``baselines`` section)."""
    splits = {name: pd.read_parquet(paths.processed(name)) for name in paths.SPLITS}
    spec = load_spec()
    grid, notes = sizing.sized_baselines(cfg.baselines, len(splits["train"]))  # sized to the data
    search = baselines.tune_hgb(splits["train"], splits["valid"], spec, grid, cfg.seed)
    artifacts.write_csv(search, paths.plots_dir("baselines") / "hgb_search.csv")
    hgb = baselines.chosen_hgb(search)
    lgbm_iter, _ = baselines.fit_lgbm_on_window(
        grid, splits["train"], splits["valid"], spec, cfg.seed
    )
    lgbm = baselines.chosen_lgbm(grid, lgbm_iter)  # refitted below with the trees it kept
    artifacts.write_json({"hgb": vars(hgb), "lightgbm": vars(lgbm)}, paths.baseline_params_file())
    held_out = {k: splits[k] for k in ("valid", "test")}
    predictions = baselines.fit_predict(splits["train"], held_out, spec, grid, cfg.seed, hgb, lgbm)
    artifacts.write_parquet(predictions, paths.baseline_predictions())
    valid = predictions[predictions["split"] == "valid"]
    scores = {m: evaluation.metrics.metrics(valid[LABEL], valid[m]) for m in baselines.BASELINES}
    artifacts.write_json(
        {
            "valid": scores,
            "hgb_params": vars(hgb),
            "hgb_candidates": len(search),
            "lightgbm_params": vars(lgbm),
        },
        paths.metrics_file("baselines"),
    )
    notes = sizing.warn(
        notes + sizing.edge_notes(vars(hgb), baselines.hgb_grid(grid), "baselines.hgb")
    )
    found = findings.baselines_findings(scores, evaluation.metrics.MODEL_NAMES, len(search), notes)
    reporting.publish_findings(found, "baselines")
    return Result(search, scores, notes, found)
