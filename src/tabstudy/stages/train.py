"""The ``train`` stage: the network trained with the tuned hyperparameters (in this process or
across ``train.workers`` processes with MultiWorkerMirroredStrategy), its decision threshold
chosen on the validation window, and the verified model bundle (Keras, SavedModel, ONNX, LiteRT)
that every later stage and the service load."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, evaluation, paths, provenance, reporting, tracking
from tabstudy.models import bundle, distributed, findings, keras_model, sizing
from tabstudy.models import export as exports
from tabstudy.spec import LABEL, load_spec
from tabstudy.stages.base import ROC_AUC, Stage, figure, metrics, rel, transaction

STAGE = Stage(
    "train",
    ("train", "export"),
    deps=(rel(paths.processed_dir()), rel(paths.best_hparams_file())),
    outs=(
        rel(paths.bundle_dir()),
        rel(paths.figures_dir("train")),
        rel(paths.findings_file("train")),
    ),
    metrics=(metrics("train"),),
    headline=((ROC_AUC, "valid.roc_auc"), ("pr_auc", "valid.pr_auc")),
    plots=(rel(paths.plots_dir("train") / "history.csv"),),
)


@dataclass(frozen=True)
class Result:
    """The hyperparameters, the epoch history (and its figure), the validation scores at the
    chosen threshold, the bundle's metadata and export checks, notes and findings."""

    hyperparameters: keras_model.Hyperparameters
    history: pd.DataFrame
    history_figure: Any
    summary: dict[str, Any]
    threshold: evaluation.thresholds.Threshold
    metadata: dict[str, Any]
    checks: list[Any]
    notes: list[str]
    findings: list[str]

    def validation(self) -> pd.DataFrame:
        """The validation window's scores, with precision, recall and F1 at the threshold."""
        t = self.threshold
        return pd.DataFrame(
            {
                "validation window": {
                    **self.summary["valid"],
                    "threshold": t.value,
                    "precision at threshold": t.precision,
                    "recall at threshold": t.recall,
                    "F1 at threshold": t.f1,
                }
            }
        ).round(4)

    def export_checks(self) -> pd.DataFrame:
        """Each runtime's agreement with the Keras model on held-out rows."""
        return exports.checks_table({"checks": [dataclasses.asdict(c) for c in self.checks]})


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Train, choose the threshold, export and verify the bundle (``train``, ``export``)."""
    keras_model.set_determinism(cfg.seed)
    train = pd.read_parquet(paths.processed("train"))
    hp = keras_model.Hyperparameters.from_dict(artifacts.read_json(paths.best_hparams_file()))
    spec = load_spec()
    pre = keras_model.build_preprocessor(train, spec)
    examples = {
        n: keras_model.encoded_examples(paths.processed(n), pre) for n in ("train", "valid")
    }
    budget, notes = sizing.sized_train(cfg.train, len(train), hp.batch_size)  # epochs sized to data
    weights = keras_model.class_weights(keras_model.labels(train), cfg.train.class_weight)
    core_args = distributed.job.CoreArgs(
        keras_model.vocab_sizes(pre), keras_model.numeric_width(pre), hp, float(train[LABEL].mean())
    )
    core = core_args.build()
    run_log = tracking.start_run(
        "train", {**dataclasses.asdict(hp), **budget.model_dump(), "seed": cfg.seed}
    )
    settings = distributed.job.FitSettings(
        budget.epochs, hp.batch_size, cfg.train.patience, cfg.seed, weights
    )
    fit = distributed.launcher.fit_core(
        cfg.train.distribute,
        cfg.train.workers,
        core,
        core_args,
        examples["train"],
        examples["valid"],
        settings,
        callbacks=[tracking.EpochLogger(run_log)],
    )
    shift = keras_model.undo_class_weight(
        core, weights
    )  # balanced -> the real rate's probabilities
    history = keras_model.history_table(fit.history)
    artifacts.write_csv(history, paths.plots_dir("train") / "history.csv")
    history_figure = figure(keras_model.plot_history(history), paths.figure("train", "history"))
    model = keras_model.export_model(pre, core)
    valid = pd.read_parquet(paths.processed("valid"))
    valid_probs = keras_model.predict(model, valid)
    y_valid = keras_model.labels(valid)
    valid_scores = evaluation.metrics.metrics(y_valid, valid_probs)
    threshold = evaluation.thresholds.choose_threshold(
        y_valid, valid_probs, cfg.train.threshold_rule, cfg.train.false_negative_cost
    )
    summary = {
        "valid": valid_scores,
        **keras_model.training_summary(history),
        "weights_sha256": keras_model.weights_digest(model),
        "threshold": dataclasses.asdict(threshold),
        **({"class_weight": {"weights": list(weights), "logit_shift": shift}} if weights else {}),
    }
    tracking.finish(run_log, {**{f"valid_{k}": v for k, v in valid_scores.items()}, **summary})
    artifacts.write_json(summary, paths.metrics_file("train"))
    metadata = bundle.training_metadata(
        spec,
        train,
        cfg.seed,
        dataclasses.asdict(hp),
        budget.model_dump(),
        summary["weights_sha256"],
        provenance.code_version(provenance.stage_sources("train")),
        provenance.package_versions(),
    )
    kinds = {f.name: f.kind for f in spec.features}
    held_out = exports.ExportCheck.from_frame(valid, kinds, cfg.export)  # checked before it is kept
    checks = bundle.write_bundle(
        paths.bundle_dir(),
        model,
        spec,
        artifacts.read_json(paths.reference_stats()),
        dataclasses.asdict(threshold),
        metadata,
        held_out,
    )
    notes = sizing.warn(
        notes + sizing.last_epoch_note(summary["epochs_run"], summary["best_epoch"], budget.epochs)
    )
    found = findings.train_findings(summary, budget.epochs, notes)
    reporting.publish_findings(found, "train")
    return Result(hp, history, history_figure, summary, threshold, metadata, checks, notes, found)
