"""The ``evaluate`` stage: the network and the baselines on the held-out test window, with
bootstrap intervals, curves, calibration and slices; the blessing gate (good enough, close
enough to the best baseline, not too good to be true) and the champion gate (no worse than the
registry's production model, overall and per slice)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, evaluation, families, paths, registry, reporting
from tabstudy.models import baselines, keras_model
from tabstudy.models.bundle import load_bundle
from tabstudy.spec import LABEL
from tabstudy.stages.base import ROC_AUC, Stage, figure, metrics, rel, transaction

STAGE = Stage(
    "evaluate",
    ("evaluate",),
    deps=(
        rel(paths.processed_dir()),
        rel(paths.bundle_dir()),
        rel(paths.baseline_predictions()),
        rel(paths.champion_pointer()),
    ),
    outs=(rel(paths.figures_dir("evaluate")), rel(paths.findings_file("evaluate"))),
    metrics=(metrics("evaluate"),),
    headline=(
        (ROC_AUC, "test.model.roc_auc"),
        ("auc_lo", "roc_auc_ci95.model.0"),
        ("auc_hi", "roc_auc_ci95.model.1"),
        ("pr_auc", "test.model.pr_auc"),
        ("decision", "promotion.decision"),
    ),
    plots=(rel(paths.plots_dir("evaluate")),),
)
CURVES = families.curve_models()
"""The models whose ROC, PR and calibration points are DVC plots and whose slices are compared."""


@dataclass(frozen=True)
class Result:
    """Scores with intervals, the curves figure, slices, both gates' verdicts, the decision at
    the threshold, the paired comparison with each baseline and the findings."""

    table: pd.DataFrame
    curves: Any
    slices: pd.DataFrame
    blessing: Any
    promotion: dict[str, Any]
    decision: dict[str, Any]
    comparison: pd.DataFrame
    findings: list[str]

    @property
    def console(self) -> str | None:
        """The champion gate's decision: the runner prints it (``dvc exp run`` shows it too)."""
        return self.promotion.get("summary")

    def scores(self) -> pd.DataFrame:
        """Each model's test scores and ROC AUC interval, by display name."""
        return evaluation.metrics.named(self.table).round(3)


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Score, gate and compare on the test window (``evaluate`` section)."""
    test = pd.read_parquet(paths.processed("test"))
    bundle = load_bundle(paths.bundle_dir())
    base = pd.read_parquet(paths.baseline_predictions())
    base = base[base["split"] == "test"].sort_values("row")
    probs = {
        "model": keras_model.predict(bundle.keras_model(), test),
        **{m: base[m].to_numpy() for m in baselines.BASELINES},
    }
    y = test[LABEL].to_numpy()
    samples, seed, bins = cfg.evaluate.bootstrap_samples, cfg.seed, cfg.evaluate.calibration_bins
    scores = {m: evaluation.metrics.metrics(y, p) for m, p in probs.items()}
    intervals = {m: evaluation.metrics.bootstrap_auc(y, p, samples, seed) for m, p in probs.items()}
    table = evaluation.metrics.scores_table(scores).join(
        pd.DataFrame(intervals, index=["auc_lo", "auc_hi"]).T
    )
    curves = _write_curves(y, probs, bins, bundle.spec.words.positive)
    slice_columns = list(bundle.spec.slices)
    slices = evaluation.slices.slice_table(test, y, {m: probs[m] for m in CURVES}, slice_columns)
    artifacts.write_csv(slices, paths.plots_dir("evaluate") / "slices.csv")
    blessing = evaluation.gates.bless(
        scores,
        "model",
        list(baselines.BASELINES),
        cfg.evaluate.min_roc_auc,
        cfg.evaluate.max_gap_to_best_baseline,
        bundle.spec.leakage_auc,
        cfg.evaluate.allow_near_perfect,
    )
    decision = {
        "value": bundle.threshold["value"],
        "rule": bundle.threshold["rule"],
        **evaluation.thresholds.at_threshold(y, probs["model"], bundle.threshold["value"]),
    }
    gate = functools.partial(
        evaluation.gates.champion_gate,
        y,
        probs["model"],
        frame=test,
        slice_columns=slice_columns,
        blessing=blessing,
        max_drop=cfg.evaluate.champion_max_drop,
        min_slice_rows=cfg.evaluate.champion_min_slice_rows,
        samples=samples,
        seed=seed,
    )
    pointer = registry.read_pointer(paths.champion_pointer())
    promo = registry.promotion(pointer, bundle, test, y, probs["model"], blessing, gate)
    artifacts.write_json(
        {
            "test": scores,
            "roc_auc_ci95": intervals,
            "blessing": evaluation.gates.blessing_dict(blessing),
            "threshold": decision,
            "promotion": promo,
        },
        paths.metrics_file("evaluate"),
    )
    comparison = evaluation.metrics.comparison_table(
        y, probs, "model", families.compared(), samples, seed
    )
    found = evaluation.findings.evaluate_findings(
        scores, comparison, slices, evaluation.metrics.MODEL_NAMES
    )
    reporting.publish_findings(found, "evaluate")
    return Result(table, curves, slices, blessing, promo, decision, comparison, found)


def _write_curves(y: Any, probs: dict[str, Any], bins: int, positive: str) -> Any:
    """ROC, PR and calibration points of :data:`CURVES` (DVC plots) and the curves figure."""
    plots = paths.plots_dir("evaluate")
    for m in CURVES:
        artifacts.write_csv(evaluation.metrics.roc_points(y, probs[m]), plots / f"roc_{m}.csv")
        artifacts.write_csv(evaluation.metrics.pr_points(y, probs[m]), plots / f"pr_{m}.csv")
        artifacts.write_csv(
            evaluation.metrics.calibration_points(y, probs[m], bins), plots / f"calibration_{m}.csv"
        )
    fig = evaluation.metrics.plot_curves(y, probs, bins, positive)
    return figure(fig, paths.figure("evaluate", "curves"))
