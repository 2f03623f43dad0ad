"""The report index page, ``reports/index.html`` (``python -m tabstudy.pipeline.index``, the
``index`` stage): links to every stage's report, the model card and the metrics, with the headline
scores on top."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from tabstudy import artifacts, config, evaluation, paths, provenance
from tabstudy.models.bundle import load_bundle
from tabstudy.stages import NAMES
from tabstudy.stages.base import notebook_name


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def index_html(
    stages: Sequence[dict[str, Any]],
    card: dict[str, Path],
    metrics: dict[str, Path],
    headline: dict[str, Any],
    out_dir: Path,
) -> str:
    """The report index.

    Args:
        stages: one dict per stage with ``name``, ``html`` (Path) and ``notebook`` (Path).
        card: ``{"html": path, "md": path}`` of the model card.
        metrics: metrics JSON files by stage name.
        headline: key numbers to show on top (already formatted or plain numbers).
        out_dir: the folder the index is written to (links are relative to it).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tabstudy", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    rows = [
        {
            "name": s["name"],
            "html": _rel(s["html"], out_dir),
            "notebook": _rel(s["notebook"], out_dir),
            "present": Path(s["html"]).exists(),
        }
        for s in stages
    ]
    return env.get_template("index.html.j2").render(
        stages=rows,
        card={k: _rel(v, out_dir) for k, v in card.items()},
        metrics={k: _rel(v, out_dir) for k, v in metrics.items()},
        headline=headline,
    )


def write_index() -> int:
    """Write reports/index.html from the stage reports, model card and metrics."""
    evaluate = artifacts.read_json(paths.metrics_file("evaluate"))
    code = load_bundle(paths.bundle_dir()).metadata.get("code", {})
    headline = {
        "scores": dict(sorted(evaluate["test"].items(), key=lambda kv: -kv[1]["roc_auc"])),
        "intervals": evaluate.get("roc_auc_ci95", {}),
        "names": evaluation.metrics.MODEL_NAMES,
        "blessed": evaluate["blessing"]["blessed"],
        "profile": config.load_params()["profile"],
        "commit": code.get("commit"),
        "commit_date": provenance.commit_date(code.get("commit")),
        "dirty": code.get("dirty", False),
    }
    stages = [
        {
            "name": name,
            "html": paths.notebook_html(notebook_name(name)),
            "notebook": paths.executed_notebook(notebook_name(name)),
        }
        for name in NAMES  # numbered in run order
    ]
    metrics = {p.stem: p for p in sorted(paths.metrics_file("index").parent.glob("*.json"))}
    card = {"html": paths.model_card("html"), "md": paths.model_card("md")}
    html = index_html(stages, card, metrics, headline, paths.reports_dir())
    artifacts.write_text(html, paths.index_html())
    return 0


if __name__ == "__main__":
    sys.exit(write_index())
