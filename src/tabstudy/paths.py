"""Every file location of the study, resolved from one place.

The project root is, in this order: the directory DVC runs a stage command in (DVC sets
``$DVC_STAGE`` and starts the command in the stage's directory, the one holding ``dvc.yaml``: a
queued ``dvc exp run --queue`` or ``--temp`` experiment runs in its own copy under
``.dvc/tmp/exps`` and must read and write there, not in your workspace; DVC points
``$DVC_ROOT`` at your workspace even then, so it cannot say which copy runs);
``$TABSTUDY_WORKDIR`` when set (tests use it to run the study in an isolated copy); else the
repository that holds this package (``src/tabstudy`` -> two levels up). Outside a DVC stage
nothing here depends on the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

WORKDIR_ENV = "TABSTUDY_WORKDIR"
DVC_STAGE_ENV = "DVC_STAGE"

RAW_TABLES: tuple[str, ...] = ("flights", "weather", "planes", "airports", "airlines")
SPLITS: tuple[str, ...] = ("train", "valid", "test")


def root() -> Path:
    """Return the project root: the workspace of a stage DVC runs, ``$TABSTUDY_WORKDIR`` or the
    repository holding this package (see the module docstring)."""
    if os.environ.get(DVC_STAGE_ENV) and (Path.cwd() / "dvc.yaml").is_file():
        return Path.cwd().resolve()
    env = os.environ.get(WORKDIR_ENV)
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


def params_file() -> Path:
    """The one source of parameters."""
    return root() / "params.yaml"


def notebooks_dir() -> Path:
    return root() / "notebooks"


def resolve(path: str | Path) -> Path:
    """A path from params.yaml: absolute as given, relative to the project root otherwise."""
    path = Path(path)
    return path if path.is_absolute() else root() / path


def contracts_dir() -> Path:
    """The data contracts (versioned YAML; a DVC dependency of validate)."""
    return root() / "contracts"


def external_dir() -> Path:
    """Where your own data files go (only the file ``data.path`` names is read)."""
    return root() / "external"


def source_stamp() -> Path:
    """The SHA-256 of each file the configured study reads (the source stage's output and the
    ingest stage's data dependency)."""
    return root() / "data" / "source.json"


def raw_dir() -> Path:
    return root() / "data" / "raw"


def raw(table: str) -> Path:
    """Parquet file of an ingested raw table (immutable once written)."""
    return raw_dir() / f"{table}.parquet"


def baseline_predictions() -> Path:
    """Validation and test predictions of the baselines (the baselines stage's output)."""
    return interim("baseline_predictions.parquet")


def interim(name: str) -> Path:
    return root() / "data" / "interim" / name


def rel(path: Path) -> str:
    """``path`` relative to the project root, POSIX style (as dvc.yaml spells it); a path
    outside the project as it is."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(root()):
        return resolved.as_posix()
    return resolved.relative_to(root()).as_posix()


def online_store() -> Path:
    """The online feature store (SQLite, built by the materialize stage)."""
    return root() / "data" / "online" / "store.sqlite"


def request_log_dir() -> Path:
    """Where the service appends its request log (one JSON line per served row)."""
    return root() / "data" / "serving"


def processed_dir() -> Path:
    """The processed splits and their feature spec (the features stage's output)."""
    return root() / "data" / "processed"


def processed(split: str) -> Path:
    """Parquet file of a processed split (train, valid or test)."""
    return processed_dir() / f"{split}.parquet"


def feature_spec() -> Path:
    """The feature spec in force (written with the processed splits; the bundle keeps a copy)."""
    return processed_dir() / "feature_spec.json"


def reference_stats() -> Path:
    """Training-window statistics for drift detection (written with the processed splits; the
    bundle keeps a copy)."""
    return processed_dir() / "reference_stats.json"


def models_dir() -> Path:
    return root() / "models"


def bundle_dir() -> Path:
    """The model bundle the train stage writes (see :mod:`tabstudy.models.bundle`)."""
    return models_dir() / "bundle"


def registry_store() -> Path:
    """Where registered bundles are materialised, by artifact and digest (git-ignored; DVC holds
    the bytes, so :mod:`tabstudy.registry` can restore any registered version)."""
    return models_dir() / "registry"


def champion_pointer() -> Path:
    """The champion stage's output: which registered version is in production now."""
    return models_dir() / "champion.json"


def rollout_dir() -> Path:
    """The canary/shadow comparison report (from the request log)."""
    return reports_dir() / "rollout"


def scores_file(name: str) -> Path:
    """Where ``make score`` writes the predictions for an input file whose stem is ``name``
    (git-ignored with the rest of ``reports/``; not a DVC output)."""
    return reports_dir() / "scores" / f"{name}.parquet"


def best_hparams_file() -> Path:
    """The tuned hyperparameters (the tune stage's output)."""
    return models_dir() / "best_hparams.json"


def baseline_params_file() -> Path:
    """The tree baselines' chosen parameters and iteration counts (the baselines stage's
    output; the backtest refits them on every fold)."""
    return models_dir() / "baseline_params.json"


def timings_file(stage: str) -> Path:
    """Wall times a stage measured (not a DVC output: they differ from run to run)."""
    return reports_dir() / "timings" / f"{stage}.json"


def monitoring_dir() -> Path:
    """The monitor's report over time: alerts.json, the reference it compares against, and the
    tables (the monitor stage, or ``--requests`` for served traffic under ``requests/``)."""
    return reports_dir() / "monitoring"


def reports_dir() -> Path:
    return root() / "reports"


def metrics_file(stage: str) -> Path:
    """Every number a stage measured, as JSON (a DVC output, not listed by ``dvc metrics show``:
    ``dvc metrics show reports/metrics/detail/<stage>.json`` shows one)."""
    return metrics_dir() / "detail" / f"{stage}.json"


def headline_file(stage: str) -> Path:
    """The few headline numbers of a stage, picked from :func:`metrics_file` (the DVC metrics
    that ``dvc metrics show``, ``diff`` and ``dvc exp show`` list)."""
    return metrics_dir() / f"{stage}.json"


def findings_file(stage: str) -> Path:
    """The written findings of a stage (sentences computed from its numbers)."""
    return reports_dir() / "findings" / f"{stage}.json"


def anomalies_report() -> Path:
    """The validate stage's anomalies report: every contract rule, rows breaking it, examples."""
    return reports_dir() / "anomalies.json"


def figures_dir(stage: str) -> Path:
    return reports_dir() / "figures" / stage


def figure(stage: str, name: str) -> Path:
    return figures_dir(stage) / f"{name}.png"


def plots_dir(stage: str) -> Path:
    """CSV series a stage writes for ``dvc plots``."""
    return reports_dir() / "plots" / stage


def executed_notebook(notebook_name: str) -> Path:
    return reports_dir() / "notebooks" / notebook_name


def metrics_dir() -> Path:
    return reports_dir() / "metrics"


def notebook_html(notebook_name: str) -> Path:
    return reports_dir() / "html" / notebook_name.replace(".ipynb", ".html")


def model_card(suffix: str) -> Path:
    """``reports/model_card.md`` or ``reports/model_card.html``."""
    return reports_dir() / f"model_card.{suffix}"


def index_html() -> Path:
    return reports_dir() / "index.html"


def tuner_dir() -> Path:
    """Where keras-tuner keeps resumable search state (git- and DVC-ignored scratch)."""
    return root() / ".cache" / "tuner"


def staging_root() -> Path:
    """Where a running stage writes before its outputs are committed (git- and DVC-ignored)."""
    return root() / ".staging"
