"""The ``monitor`` stage: the deployed model watched over the test window as if it were
served, window by window: feature and prediction drift, unseen categories, the realised and the
label-free estimated ROC AUC against the validation window's interval, and the alerts the rules
(:mod:`tabstudy.monitoring.rules`) raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, paths, reporting
from tabstudy.data.store import bundle_digest
from tabstudy.models import keras_model
from tabstudy.models.bundle import load_bundle
from tabstudy.monitoring import report
from tabstudy.spec import LABEL, load_spec
from tabstudy.stages.base import Stage, figure, metrics, rel, transaction

STAGE = Stage(
    "monitor",
    ("monitor", "evaluate"),
    deps=(
        rel(paths.processed_dir()),
        rel(paths.bundle_dir()),
        rel(paths.findings_file("backtest")),
    ),
    outs=(
        rel(paths.monitoring_dir()),
        rel(paths.figures_dir("monitor")),
        rel(paths.findings_file("monitor")),
    ),
    metrics=(metrics("monitor"),),
    headline=(("alerts", "alerts"),),
    plots=(rel(paths.plots_dir("monitor")),),
)
ALERT_COLUMNS = ["window", "rule", "metric", "value", "threshold", "message"]


@dataclass(frozen=True)
class Result:
    """The reference (validation window), the study's words, the monitoring result, its figures
    and findings."""

    reference: report.Reference
    start: str | None
    window: str
    words: Any
    result: Any
    figures: dict[str, Any]
    findings: list[str]

    def reference_table(self) -> pd.DataFrame:
        """Where monitoring starts, the window, the reference AUC with its interval, the model."""
        ref = self.reference
        start = self.start or f"{report.UNTIMED_WINDOW} (no time axis)"
        return pd.Series(
            {
                "monitored from": start,
                "window": self.window,
                "validation ROC AUC": round(ref.roc_auc, 4),
                "95% interval": f"[{ref.auc_lo:.4f}, {ref.auc_hi:.4f}]",
                "model": ref.model_version,
            },
            name="reference",
        ).to_frame()

    def alerts(self) -> Any:
        """Every alert, or a sentence saying none fired."""
        alerts = pd.DataFrame(self.result.alerts, columns=ALERT_COLUMNS)
        return reporting.table_or_note(alerts, "No alert fired in any window.")


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Monitor the test window (``monitor``; ``evaluate.min_roc_auc`` is the performance floor)."""
    bundle = load_bundle(paths.bundle_dir())
    spec = load_spec()
    model = bundle.keras_model()
    train, valid, test = (pd.read_parquet(paths.processed(s)) for s in ("train", "valid", "test"))
    timed = spec.time_column is not None
    start = pd.Timestamp(test[spec.time_column].min()).date().isoformat() if timed else None
    reference = report.build_reference(
        keras_model.labels(valid),
        keras_model.predict(model, valid),
        start,
        bundle_digest(paths.bundle_dir())[:12],
        cfg.monitor.bootstrap_samples,
        cfg.seed,
    )
    reference.write(paths.monitoring_dir())
    rows = test[spec.categorical() + spec.numeric()].copy()
    rows[report.SCORE] = keras_model.predict(model, test)
    if timed:  # rows without time are monitored as one window, with no date
        rows[report.TIME] = test[spec.time_column]
    rows[report.LABEL_COLUMN] = test[LABEL].astype(float)
    families = {f.name: f.source for f in spec.features}
    result = report.monitor(
        train,
        rows,
        spec.categorical(),
        spec.numeric(),
        families,
        reference,
        cfg.monitor,
        cfg.evaluate.min_roc_auc,
        cfg.seed,
        reference_stats=bundle.reference,
        words=spec.words,
    )
    result.write(paths.monitoring_dir(), paths.plots_dir("monitor"))
    artifacts.write_json(result.summary(), paths.metrics_file("monitor"))
    figures = {
        name: figure(fig, paths.figure("monitor", name))
        for name, fig in report.figures(result, reference, cfg.monitor).items()
    }
    retraining = [
        s
        for s in artifacts.read_json(paths.findings_file("backtest"))
        if s.startswith("Retraining")
    ]
    found = result.findings + retraining
    reporting.publish_findings(found, "monitor")
    return Result(reference, start, cfg.monitor.window, spec.words, result, figures, found)
