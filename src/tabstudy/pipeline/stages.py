"""The stage registry: for every stage, its notebook, the params sections it reads, its data
dependencies and outputs (spelled through :mod:`tabstudy.paths`, the one place paths live).
``dvc.yaml`` is generated from here (:mod:`.dvcgen`), and the src modules each stage depends on
are found by reading its notebook's imports, so dvc.yaml can never miss one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabstudy import paths

PACKAGE = "tabstudy"
COMMON_PARAMS: tuple[str, ...] = ("profile", "seed")


@dataclass(frozen=True)
class Stage:
    """One lifecycle stage run by papermill (``notebook``) or by a src command (``command``)."""

    name: str
    notebook: str | None
    sections: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    """Every number the stage measured (:func:`tabstudy.paths.metrics_file`): an output."""
    headline: tuple[tuple[str, str], ...] = ()
    """(key, dotted path into the metrics file): the few numbers ``dvc metrics show`` lists,
    written to :func:`tabstudy.paths.headline_file` (see :func:`headline_values`)."""
    plots: tuple[str, ...] = ()
    command: str | None = None
    always_changed: bool = False
    """Run on every ``dvc repro``: the stage reads state DVC cannot hash (the registry's tags);
    stages after it re-run only when its output changes."""


def _r(path: Path) -> str:
    return paths.rel(path)


def _m(stage: str) -> str:
    return _r(paths.metrics_file(stage))


def headline_file(s: Stage) -> list[str]:
    """The stage's headline metrics file (a top-level DVC metric), if it declares a headline."""
    return [_r(paths.headline_file(s.name))] if s.headline else []


def headline_values(s: Stage, record: Mapping[str, Any]) -> dict[str, Any]:
    """The stage's headline numbers picked from its metrics ``record`` by their dotted paths
    (``"test.model.roc_auc"``; a number indexes a list). A path the record lacks, or whose
    value is None, is left out: ``dvc metrics show`` prints ``-`` there."""
    out: dict[str, Any] = {}
    for key, dotted in s.headline:
        value: Any = record
        for part in dotted.split("."):
            if isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                value = None
        if value is not None:
            out[key] = value
    return out


# The headline columns are shared: one `roc_auc` column holds each stage's own ROC AUC (tune,
# train: validation window; evaluate: test; backtest: mean over the rolling folds), so that
# `dvc metrics show` prints one table under 120 columns for every study.
ROC_AUC = "roc_auc"


SOURCE_STAMP = _r(paths.source_stamp())
RAW = _r(paths.raw_dir())
PROCESSED = _r(paths.processed_dir())
BUNDLE = _r(paths.bundle_dir())
BASELINE_PREDICTIONS = _r(paths.baseline_predictions())
BEST_HPARAMS = _r(paths.best_hparams_file())
BASELINE_PARAMS = _r(paths.baseline_params_file())
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        "01-ingest.ipynb",
        ("data",),
        deps=(SOURCE_STAMP,),
        outs=(RAW,),
        metrics=(_m("ingest"),),
    ),
    Stage(
        "validate",
        "02-validate.ipynb",
        ("data", "validate", "target"),
        deps=(RAW, _r(paths.contracts_dir())),
        outs=(_r(paths.anomalies_report()),),
        metrics=(_m("validate"),),
        headline=(("fail", "fail"), ("warn", "warn")),
    ),
    Stage(
        "eda",
        "03-eda.ipynb",
        ("data", "target", "features"),
        deps=(RAW, _m("validate")),
        outs=(_r(paths.figures_dir("eda")), _r(paths.findings_file("eda"))),
        metrics=(_m("eda"),),
        headline=(("rows", "rows"),),
        plots=(_r(paths.plots_dir("eda")),),
    ),
    Stage(
        "features",
        "04-features.ipynb",
        ("data", "target", "features"),
        deps=(RAW, _m("validate")),
        outs=(PROCESSED,),
        metrics=(_m("features"),),
    ),
    Stage(
        "baselines",
        "05-baselines.ipynb",
        ("baselines",),
        deps=(PROCESSED,),
        outs=(BASELINE_PREDICTIONS, BASELINE_PARAMS, _r(paths.findings_file("baselines"))),
        metrics=(_m("baselines"),),
        plots=(_r(paths.plots_dir("baselines") / "hgb_search.csv"),),
    ),
    Stage(
        "tune",
        "06-tune.ipynb",
        ("tune",),
        deps=(PROCESSED,),
        outs=(BEST_HPARAMS, _r(paths.findings_file("tune"))),
        metrics=(_m("tune"),),
        headline=((ROC_AUC, "best_val_auc"),),
        plots=(_r(paths.plots_dir("tune") / "trials.csv"),),
    ),
    Stage(
        "train",
        "07-train.ipynb",
        ("train", "export"),
        deps=(PROCESSED, BEST_HPARAMS),
        outs=(BUNDLE, _r(paths.figures_dir("train")), _r(paths.findings_file("train"))),
        metrics=(_m("train"),),
        headline=((ROC_AUC, "valid.roc_auc"), ("pr_auc", "valid.pr_auc")),
        plots=(_r(paths.plots_dir("train") / "history.csv"),),
    ),
    Stage(
        "evaluate",
        "08-evaluate.ipynb",
        ("evaluate",),
        deps=(PROCESSED, BUNDLE, BASELINE_PREDICTIONS, _r(paths.champion_pointer())),
        outs=(_r(paths.figures_dir("evaluate")), _r(paths.findings_file("evaluate"))),
        metrics=(_m("evaluate"),),
        headline=(
            (ROC_AUC, "test.model.roc_auc"),
            ("auc_lo", "roc_auc_ci95.model.0"),
            ("auc_hi", "roc_auc_ci95.model.1"),
            ("pr_auc", "test.model.pr_auc"),
            ("decision", "promotion.decision"),
        ),
        plots=(_r(paths.plots_dir("evaluate")),),
    ),
    Stage(
        "backtest",
        "09-backtest.ipynb",
        ("backtest", "baselines", "monitor"),
        deps=(PROCESSED, BEST_HPARAMS, BASELINE_PARAMS),
        outs=(_r(paths.figures_dir("backtest")), _r(paths.findings_file("backtest"))),
        metrics=(_m("backtest"),),
        headline=((ROC_AUC, "roc_auc_mean.keras"),),
        plots=(_r(paths.plots_dir("backtest")),),
    ),
    Stage(
        "monitor",
        "10-monitor.ipynb",
        ("monitor", "evaluate"),
        deps=(PROCESSED, BUNDLE, _r(paths.findings_file("backtest"))),
        outs=(
            _r(paths.monitoring_dir()),
            _r(paths.figures_dir("monitor")),
            _r(paths.findings_file("monitor")),
        ),
        metrics=(_m("monitor"),),
        headline=(("alerts", "alerts"),),
        plots=(_r(paths.plots_dir("monitor")),),
    ),
    Stage(
        "model_card",
        "11-model_card.ipynb",
        ("model_card",),
        deps=(
            BUNDLE,
            RAW,
            PROCESSED,
            _m("ingest"),
            _m("features"),
            _m("train"),
            _m("evaluate"),
            _r(paths.plots_dir("evaluate")),
            _r(paths.findings_file("monitor")),
            _r(paths.findings_file("backtest")),
            _m("backtest"),
            _m("monitor"),
            _r(paths.root() / "requirements.lock"),
        ),
        outs=(
            _r(paths.model_card("md")),
            _r(paths.model_card("html")),
            _r(paths.model_card("json")),
            _r(paths.findings_file("model_card")),
        ),
    ),
)
MATERIALIZE = Stage(
    "materialize",
    None,
    ("data", "target", "features"),
    deps=(RAW, BUNDLE),
    outs=(_r(paths.online_store()),),
    metrics=(_m("materialize"),),
    command="python -m tabstudy.pipeline.materialize",
)
INDEX = Stage(
    "index",
    None,
    deps=(BUNDLE,),
    outs=(_r(paths.index_html()),),
    command="python -m tabstudy.pipeline.index",
)


SOURCE = Stage(
    "source",
    None,
    ("data",),
    outs=(SOURCE_STAMP,),
    command="python -m tabstudy.pipeline.source",
    always_changed=True,
)
"""The SHA-256 of the files the configured study reads: ingest's data dependency, so that only
the file ``data.path`` names (not all of ``external/``) makes the study stale."""


CHAMPION = Stage(
    "champion",
    None,
    ("data",),
    outs=(_r(paths.champion_pointer()),),
    command="python -m tabstudy.pipeline.registry resolve",
    always_changed=True,
)
"""Which registered version is the champion now (GTO tags): the champion gate's rival."""
COMMANDS: tuple[Stage, ...] = (SOURCE, CHAMPION, MATERIALIZE, INDEX)
"""Stages run by a src command, not a notebook (the index comes last)."""


def executed_outs(s: Stage) -> list[str]:
    """The executed notebook and its HTML page of a notebook stage."""
    if not s.notebook:
        return []
    return [_r(paths.executed_notebook(s.notebook)), _r(paths.notebook_html(s.notebook))]


def stage(name: str) -> Stage:
    """Look a stage up by name."""
    for s in (*STAGES, *COMMANDS):
        if s.name == name:
            return s
    known = ", ".join(s.name for s in (*STAGES, *COMMANDS))
    raise KeyError(f"unknown stage {name!r}; stages: {known}")
