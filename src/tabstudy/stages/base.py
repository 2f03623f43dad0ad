"""What every stage module shares: its declaration (:class:`Stage`) and :func:`transaction`,
the decorator that makes a stage's ``run(cfg)`` one all-or-nothing write.

A stage module declares ``STAGE`` (the params sections it reads, its data dependencies and its
outputs, spelled through :mod:`tabstudy.paths`) and a ``run(cfg) -> result`` that reads those
inputs and writes exactly those outputs. The stage registry (:mod:`tabstudy.pipeline.stages`)
collects the declarations, so an output is declared once: where it is written.

Staging lives here and nowhere else. Inside the pipeline the runner has opened the stage's
staging directory (``$TABSTUDY_STAGING``) before papermill starts the notebook; ``run`` writes
into it, and the runner commits it when the whole notebook succeeded. Called anywhere else (a
test, a console), ``run`` opens and commits its own staging directory, so a stage is testable
without papermill and a failing ``run`` leaves the previous outputs as they were.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tabstudy import artifacts, paths

R = TypeVar("R")

ROC_AUC = "roc_auc"
"""The shared headline column: each stage's own ROC AUC (tune, train: validation window;
evaluate: test; backtest: mean over the rolling folds), so ``dvc metrics show`` prints one table
under 120 columns for every study."""


@dataclass(frozen=True)
class Stage:
    """One lifecycle stage: run by papermill from its notebook (``notebooks/NN-<name>.ipynb``),
    or by a src command (``command``)."""

    name: str
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
    common: tuple[str, ...] = ("profile", "seed")
    """The top-level params every stage reads besides its ``sections``."""

    @property
    def notebook(self) -> str | None:
        """The notebook's file name (``NN-<name>.ipynb``, numbered in run order), or None for a
        command stage."""
        return None if self.command else notebook_name(self.name)


def notebook_name(stage: str) -> str:
    """The one notebook ``notebooks/NN-<stage>.ipynb``; :class:`KeyError` if there is none or
    more than one."""
    found = sorted(p.name for p in paths.notebooks_dir().glob(f"[0-9][0-9]-{stage}.ipynb"))
    if len(found) != 1:
        raise KeyError(f"stage {stage!r}: expected one notebooks/NN-{stage}.ipynb, found {found}")
    return found[0]


def rel(path: Path) -> str:
    """A path as dvc.yaml spells it (relative to the project root)."""
    return paths.rel(path)


def metrics(stage: str) -> str:
    """The stage's metrics file, as dvc.yaml spells it."""
    return rel(paths.metrics_file(stage))


def headline_file(s: Stage) -> list[str]:
    """The stage's headline metrics file (a top-level DVC metric), if it declares a headline."""
    return [rel(paths.headline_file(s.name))] if s.headline else []


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


def executed_outs(s: Stage) -> list[str]:
    """The executed notebook and its HTML page of a notebook stage ([] for a command stage)."""
    if not s.notebook:
        return []
    return [rel(paths.executed_notebook(s.notebook)), rel(paths.notebook_html(s.notebook))]


def directory_outs(s: Stage) -> list[str]:
    """The stage's declared outputs that are directories (no file suffix)."""
    return [o for o in (*s.outs, *s.plots) if not Path(o).suffix]


def console_file(stage: str) -> Path:
    """Where a stage leaves the line the runner prints on the console after it succeeded
    (beside the staging directory, so it is never committed as an output)."""
    return paths.staging_root() / f"{stage}.console.txt"


def transaction(declared: Stage) -> Callable[[Callable[[Any], R]], Callable[[Any], R]]:
    """Make ``run(cfg)`` of the stage ``declared`` one transaction (see the module doc).

    After ``run`` returned, and still inside the transaction: its directory outputs are marked
    to replace last run's directories whole (stale files go too), its headline numbers are
    picked from its metrics file, and the result's ``console`` text (if any) is left for the
    runner to print.
    """

    def decorate(run: Callable[[Any], R]) -> Callable[[Any], R]:
        @functools.wraps(run)
        def wrapped(cfg: Any) -> R:
            active = os.environ.get(artifacts.STAGING_ENV)
            if active:  # the runner's transaction: it commits after the whole notebook
                return _finish(declared, run(cfg), Path(active))
            staging = paths.staging_root() / declared.name
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            os.environ[artifacts.STAGING_ENV] = str(staging)
            try:
                result = _finish(declared, run(cfg), staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            finally:
                os.environ.pop(artifacts.STAGING_ENV, None)
            console_file(declared.name).unlink(missing_ok=True)  # the caller has the result
            artifacts.commit_staging(staging, paths.root())
            return result

        return wrapped

    return decorate


def _finish(declared: Stage, result: R, staging: Path) -> R:
    """The declared directories marked whole, the headline written, the console line left."""
    for out in directory_outs(declared):
        (staging / out).mkdir(parents=True, exist_ok=True)
        artifacts.mark_whole_dir(staging / out)
    if declared.headline:
        record = artifacts.read_json(artifacts.target_path(paths.metrics_file(declared.name)))
        artifacts.write_json(headline_values(declared, record), paths.headline_file(declared.name))
    text = getattr(result, "console", None)
    if text:
        console_file(declared.name).write_text(f"{text}\n", encoding="utf-8")
    return result


def figure(fig: Any, final: Path) -> Any:
    """Save ``fig`` as PNG to ``final`` and close it, so that the notebook shows it where it
    displays the result (not all at once under the call); return it for that display."""
    import matplotlib.pyplot as plt

    artifacts.save_figure(fig, final)
    plt.close(fig)
    return fig
