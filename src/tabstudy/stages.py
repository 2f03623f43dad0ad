"""The stage registry: for every stage, its notebook, the params sections it reads, its data
dependencies and outputs. ``dvc.yaml`` is generated from here (``make dvc-yaml``), and the src
modules each stage depends on are found by reading its notebook's imports, so dvc.yaml can never
miss one."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

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
    plots: tuple[str, ...] = ()
    command: str | None = None


def _m(stage: str) -> str:
    return f"reports/metrics/{stage}.json"


PROCESSED = "data/processed"
STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        "01-ingest.ipynb",
        ("data",),
        deps=("external",),
        outs=("data/raw",),
        metrics=(_m("ingest"),),
    ),
    Stage(
        "validate",
        "02-validate.ipynb",
        ("data", "validate", "target"),
        deps=("data/raw", "contracts"),
        outs=("reports/anomalies.json",),
        metrics=(_m("validate"),),
    ),
    Stage(
        "eda",
        "03-eda.ipynb",
        ("data", "target", "features"),
        deps=("data/raw", _m("validate")),
        outs=("reports/figures/eda",),
        metrics=(_m("eda"),),
    ),
    Stage(
        "features",
        "04-features.ipynb",
        ("data", "target", "features"),
        deps=("data/raw", _m("validate")),
        outs=(PROCESSED,),
        metrics=(_m("features"),),
    ),
    Stage(
        "baselines",
        "05-baselines.ipynb",
        ("baselines",),
        deps=(PROCESSED,),
        outs=("data/interim/baseline_predictions.parquet",),
        metrics=(_m("baselines"),),
        plots=("reports/plots/baselines/hgb_search.csv",),
    ),
    Stage(
        "tune",
        "06-tune.ipynb",
        ("tune",),
        deps=(PROCESSED,),
        outs=("models/best_hparams.json",),
        metrics=(_m("tune"),),
        plots=("reports/plots/tune/trials.csv",),
    ),
    Stage(
        "train",
        "07-train.ipynb",
        ("train",),
        deps=(PROCESSED, "models/best_hparams.json"),
        outs=("models/model.keras", "models/saved_model", "reports/figures/train"),
        metrics=(_m("train"),),
        plots=("reports/plots/train/history.csv",),
    ),
    Stage(
        "evaluate",
        "08-evaluate.ipynb",
        ("evaluate",),
        deps=(PROCESSED, "models/model.keras", "data/interim/baseline_predictions.parquet"),
        outs=("reports/figures/evaluate",),
        metrics=(_m("evaluate"),),
        plots=("reports/plots/evaluate",),
    ),
    Stage(
        "model_card",
        "09-model_card.ipynb",
        ("model_card",),
        deps=(
            PROCESSED,
            _m("evaluate"),
            _m("train"),
            _m("features"),
            "models/best_hparams.json",
        ),
        outs=("reports/model_card.md", "reports/model_card.html"),
    ),
    Stage(
        "monitor",
        "10-monitor.ipynb",
        ("monitor",),
        deps=(PROCESSED,),
        outs=("reports/figures/monitor",),
        metrics=(_m("monitor"),),
        plots=("reports/plots/monitor/drift.csv",),
    ),
)
INDEX = Stage(
    "index",
    None,
    deps=(),
    outs=("reports/index.html",),
    command="python -m tabstudy.pipeline index",
)


def stage(name: str) -> Stage:
    """Look a stage up by name."""
    for s in (*STAGES, INDEX):
        if s.name == name:
            return s
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in STAGES)}, index")


def notebook_imports(notebook: Path) -> set[str]:
    """``tabstudy`` modules imported by the code cells of a notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return _imports(code)


def _imports(code: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == PACKAGE
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def module_file(module: str, src: Path) -> Path | None:
    """The file of a dotted ``tabstudy`` module under ``src`` (None for non-modules)."""
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def module_closure(modules: set[str], src: Path) -> list[Path]:
    """Files of ``modules`` and of every ``tabstudy`` module they import, transitively, sorted."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        mod = todo.pop()
        path = module_file(mod, src)
        if path is None or mod in seen:
            continue
        seen[mod] = path
        todo.extend(_imports(path.read_text(encoding="utf-8")) - set(seen))
        parent = mod.rsplit(".", 1)[0]
        if parent != mod:
            todo.append(parent)
    return sorted(set(seen.values()))
