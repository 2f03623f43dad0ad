"""Run stages, generate dvc.yaml, build the report index, refresh the notebooks' reference outputs.

Usage (``python -m tabstudy.pipeline ...``; DVC calls ``run``)::

    run STAGE            execute the stage's notebook with papermill; commit outputs on success
    index                write reports/index.html
    dvc-yaml [--check]   print dvc.yaml generated from the stage registry (or check it is current)
    refresh-notebooks    re-execute every notebook under the smoke profile in a scratch work dir
                         and store the outputs in notebooks/ as nbval's reference
    sync-parameters      rewrite each notebook's parameters cell from params.yaml

A stage runs in a transaction: its writes go to ``.staging/<stage>`` (see :mod:`artifacts`) and
move into place only when every cell succeeded. On a failing cell the executed notebook, with
papermill's red error banner at the top, is published to ``reports/notebooks`` and its HTML to
``reports/html`` so the error is visible; nothing else of the stage is written, the outputs of
the last successful run stay in place (dvc.yaml marks every output ``persist``, so DVC does not
delete them first), and the command exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import pprint
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tabstudy import artifacts, config, paths
from tabstudy.stages import (
    COMMON_PARAMS,
    INDEX,
    STAGES,
    Stage,
    module_closure,
    notebook_imports,
    stage,
)

KERNEL = "python3"
SMOKE = "smoke"
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
    "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"),
}


def stage_parameters(s: Stage, params: dict[str, Any]) -> dict[str, Any]:
    """The values papermill injects: profile, seed and exactly the sections the stage reads."""
    missing = [k for k in ("profile", "seed", *s.sections) if k not in params]
    if missing:
        raise config.ConfigError(
            f"{paths.params_file()}: missing key(s) {', '.join(missing)} needed by stage '{s.name}'"
        )
    return {
        "profile": params["profile"],
        "seed": params["seed"],
        **{k: params[k] for k in s.sections},
    }


def _kernel_env(root: Path, staging: Path | None, profile: str) -> None:
    os.environ.update(QUIET_ENV)
    os.environ[paths.WORKDIR_ENV] = str(root)
    os.environ[config.PROFILE_ENV] = profile
    if staging is None:
        os.environ.pop(artifacts.STAGING_ENV, None)
    else:
        os.environ[artifacts.STAGING_ENV] = str(staging)


def run_stage(name: str) -> int:
    """Execute one notebook stage transactionally; return the exit code (0 = success)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    s = stage(name)
    if s.notebook is None:
        return write_index()
    root = paths.root()
    params = config.load_params()
    parameters = stage_parameters(s, params)
    staging = paths.staging_root() / s.name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _kernel_env(root, staging, str(params["profile"]))
    executed = artifacts.target_path(paths.executed_notebook(s.notebook))
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            paths.notebooks_dir() / s.notebook,
            executed,
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(root),
            progress_bar=False,
            log_output=False,
        )
        _clean(executed)  # the same tidy-up as a failed run's report gets
        artifacts.write_text(_html(executed), paths.notebook_html(s.notebook))
    except PapermillExecutionError as err:
        _publish_failure(s, executed)
        print(
            f"stage '{s.name}' FAILED in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"see {paths.executed_notebook(s.notebook)} (error shown at the top); "
            "no other output of this stage was written",
            file=sys.stderr,
        )
        return 1
    finally:
        os.environ.pop(artifacts.STAGING_ENV, None)
    for out in directory_outs(s):
        (staging / out).mkdir(parents=True, exist_ok=True)
        artifacts.mark_whole_dir(staging / out)  # replaces last run's directory, stale files too
    artifacts.commit_staging(staging, root)
    return 0


def directory_outs(s: Stage) -> list[str]:
    """The stage's declared outputs that are directories (no file suffix)."""
    return [o for o in (*s.outs, *s.plots) if not Path(o).suffix]


def _clean(notebook: Path) -> None:
    from tabstudy.reporting import clean_executed

    clean_executed(notebook)


def _html(notebook: Path) -> str:
    from tabstudy.reporting import notebook_to_html

    return notebook_to_html(notebook)


def _publish_failure(s: Stage, executed: Path) -> None:
    """Publish the failed notebook and its HTML; discard everything else the stage staged."""
    staging = Path(os.environ.pop(artifacts.STAGING_ENV))
    final_nb = paths.executed_notebook(s.notebook)
    final_nb.parent.mkdir(parents=True, exist_ok=True)
    if executed.exists():
        _clean(executed)
        os.replace(executed, final_nb)
        artifacts.write_text(_html(final_nb), paths.notebook_html(s.notebook))
    shutil.rmtree(staging, ignore_errors=True)


def write_index() -> int:
    """Write reports/index.html from the stage reports, model card and metrics."""
    from tabstudy.reporting import index_html

    evaluate = artifacts.read_json(paths.metrics_file("evaluate"))
    headline = {
        "scores": evaluate["test"],
        "blessed": evaluate["blessing"]["blessed"],
        "profile": config.load_params()["profile"],
    }
    stages = [
        {
            "name": s.name,
            "html": paths.notebook_html(s.notebook),
            "notebook": paths.executed_notebook(s.notebook),
        }
        for s in STAGES
        if s.notebook
    ]
    metrics = {Path(m).stem: paths.root() / m for s in STAGES for m in s.metrics}
    card = {"html": paths.model_card("html"), "md": paths.model_card("md")}
    html = index_html(stages, card, metrics, headline, paths.reports_dir())
    artifacts.write_text(html, paths.index_html())
    return 0


# --- dvc.yaml ------------------------------------------------------------------------------------


def _src_deps(s: Stage, root: Path) -> list[str]:
    src = root / "src"
    if s.notebook:
        modules = notebook_imports(root / "notebooks" / s.notebook)
    else:
        modules = {"tabstudy.pipeline"}
    files = module_closure(modules | {"tabstudy.pipeline"}, src)
    deps = [f.relative_to(root).as_posix() for f in files]
    if any(f.name == "model_card.py" for f in module_closure(modules, src)):
        deps += [
            "src/tabstudy/templates/model_card.html.j2",
            "src/tabstudy/templates/model_card.md.j2",
        ]
    if s.name == INDEX.name:
        deps.append("src/tabstudy/templates/index.html.j2")
    return deps


def _profile_keys(s: Stage, params: dict[str, Any]) -> list[str]:
    """``profiles.<name>.<section>`` for every profile that overrides a section the stage reads,
    so that editing an override re-runs exactly the stages it affects."""
    profiles = params.get("profiles") or {}
    return [f"profiles.{p}.{sec}" for p in profiles for sec in s.sections if sec in profiles[p]]


def _stage_yaml(s: Stage, root: Path, params: dict[str, Any]) -> dict[str, Any]:
    nb = [f"notebooks/{s.notebook}"] if s.notebook else []
    body: dict[str, Any] = {"cmd": s.command or f"python -m tabstudy.pipeline run {s.name}"}
    body["deps"] = nb + _src_deps(s, root) + list(s.deps)
    if s.name == INDEX.name:
        body["deps"] += [
            f"reports/html/{x.notebook.replace('.ipynb', '.html')}" for x in STAGES if x.notebook
        ]
        body["deps"] += ["reports/model_card.html", "reports/metrics/evaluate.json"]
        body["params"] = ["profile"]
    else:
        body["params"] = [*COMMON_PARAMS, *s.sections, *_profile_keys(s, params)]
    # every output is DVC's (cached, git-ignored); dvc.lock in git records what a run produced
    outs: list[str] = [*s.outs, *s.metrics, *s.plots]
    if s.notebook:
        outs += [
            f"reports/notebooks/{s.notebook}",
            f"reports/html/{s.notebook.replace('.ipynb', '.html')}",
        ]
    # persist: DVC must not delete the outputs before the stage runs; the runner replaces them
    # only when the stage succeeds, so a failing stage leaves the last good outputs in place
    body["outs"] = [{o: {"persist": True}} for o in outs]
    return body


PLOTS: list[dict[str, Any]] = [
    {
        "ROC (test)": {
            "template": "simple",
            "x": "fpr",
            "y": {f"reports/plots/evaluate/roc_{m}.csv": "tpr" for m in ("model", "hgb", "logreg")},
        }
    },
    {
        "Precision-recall (test)": {
            "template": "simple",
            "x": "recall",
            "y": {
                f"reports/plots/evaluate/pr_{m}.csv": "precision"
                for m in ("model", "hgb", "logreg")
            },
        }
    },
    {
        "Calibration (test)": {
            "template": "simple",
            "x": "mean_predicted",
            "y": {
                f"reports/plots/evaluate/calibration_{m}.csv": "fraction_positive"
                for m in ("model", "hgb", "logreg")
            },
        }
    },
    {
        "Training curves": {
            "template": "linear",
            "x": "epoch",
            "y": {"reports/plots/train/history.csv": ["loss", "val_loss"]},
        }
    },
    {
        "Training AUC": {
            "template": "linear",
            "x": "epoch",
            "y": {"reports/plots/train/history.csv": ["auc", "val_auc"]},
        }
    },
    {
        "Tuning trials": {
            "template": "bar_horizontal",
            "x": "val_auc",
            "y": {"reports/plots/tune/trials.csv": "trial"},
        }
    },
    {
        "Feature drift (PSI)": {
            "template": "bar_horizontal",
            "x": "psi",
            "y": {"reports/plots/monitor/drift.csv": "feature"},
        }
    },
]


def dvc_yaml(root: Path | None = None) -> str:
    """dvc.yaml for the registry, with top-level metrics and plots."""
    root = root or paths.root()
    params = config.load_params(root / "params.yaml")
    doc = {
        "stages": {s.name: _stage_yaml(s, root, params) for s in (*STAGES, INDEX)},
        "metrics": [m for s in STAGES for m in s.metrics],
        "plots": PLOTS,
    }
    header = "# Generated by `make dvc-yaml` from src/tabstudy/stages.py; do not edit by hand.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=100)


# --- parameters cells -----------------------------------------------------------------------------

PARAMETERS_HEADER = (
    "# Parameters: defaults equal params.yaml (the full study). papermill injects the\n"
    "# pipeline's values below; $TABSTUDY_PROFILE=smoke selects the smoke profile.\n"
)


def parameters_source(s: Stage, params: dict[str, Any]) -> str:
    """The parameters cell of a stage's notebook: params.yaml's values of what the stage reads."""
    values = stage_parameters(s, params)
    lines = [f"{k} = {pprint.pformat(v, width=100, sort_dicts=False)}" for k, v in values.items()]
    return PARAMETERS_HEADER + "\n".join(lines)


def sync_parameters() -> list[str]:
    """Rewrite every notebook's parameters cell from params.yaml; return the notebooks changed."""
    import nbformat

    params = config.load_params()
    changed = []
    for s in STAGES:
        path = paths.notebooks_dir() / str(s.notebook)
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        source = parameters_source(s, params)
        if cell.source != source:
            cell.source = source
            nbformat.write(nb, path)
            changed.append(path.name)
    return changed


# --- reference notebooks for nbval ---------------------------------------------------------


def refresh_notebooks(profile: str = SMOKE) -> None:
    """Re-execute every notebook in order under ``profile`` in a scratch work dir; store outputs."""
    import nbformat
    from nbclient import NotebookClient

    repo = paths.root()
    with tempfile.TemporaryDirectory(prefix="tabstudy-refresh-") as tmp:
        work = Path(tmp)
        shutil.copy(repo / "params.yaml", work / "params.yaml")
        shutil.copytree(repo / "contracts", work / "contracts")
        _kernel_env(work, None, profile)
        for s in STAGES:
            path = repo / "notebooks" / s.notebook
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb,
                kernel_name=KERNEL,
                resources={"metadata": {"path": str(work)}},
                record_timing=False,
                timeout=1800,
            ).execute()
            nbformat.write(clean_notebook(nb), path)
            print(f"refreshed {path.name}")


def clean_notebook(nb: Any) -> Any:
    """Drop volatile metadata (papermill, timings, widget state) but keep outputs and counts."""
    from tabstudy.reporting import strip_noise

    strip_noise(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tabstudy", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one stage")
    run.add_argument("stage")
    sub.add_parser("index", help="write reports/index.html")
    gen = sub.add_parser("dvc-yaml", help="print dvc.yaml generated from the stage registry")
    gen.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is out of date")
    sub.add_parser("refresh-notebooks", help="store smoke-profile outputs in notebooks/ for nbval")
    sub.add_parser("sync-parameters", help="rewrite notebook parameters cells from params.yaml")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_stage(args.stage)
    if args.command == "index":
        return write_index()
    if args.command == "dvc-yaml":
        text = dvc_yaml()
        if args.check:
            current = (paths.root() / "dvc.yaml").read_text(encoding="utf-8")
            if current != text:
                print("dvc.yaml is out of date: run `make dvc-yaml`", file=sys.stderr)
                return 1
            return 0
        sys.stdout.write(text)
        return 0
    if args.command == "sync-parameters":
        for name in sync_parameters():
            print(f"updated parameters of {name}")
        return 0
    refresh_notebooks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
