"""Rendered reports: executed notebooks to standalone HTML with the code hidden, and the
``reports/index.html`` page linking every stage report, the model card and the metrics."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbconvert import HTMLExporter

# C++ start-up chatter of TensorFlow/absl that ignores TF_CPP_MIN_LOG_LEVEL; it says nothing about
# the study, so it is dropped from executed notebooks (real warnings and errors are kept).
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} [\d:. ]+\d+ "
    r"(port|cpu_feature_guard|node_def_util)\.cc|To enable the following instructions|"
    r"INFO:tensorflow:Assets written to)"
)


def strip_noise(nb: Any) -> Any:
    """Remove TensorFlow's start-up log lines from stderr outputs; drop outputs left empty."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                lines = [ln for ln in out["text"].splitlines(keepends=True) if not NOISE.match(ln)]
                out["text"] = "".join(lines)
                if not out["text"]:
                    continue
            kept.append(out)
        cell["outputs"] = kept
    return nb


def clean_executed(path: Path) -> None:
    """Strip start-up noise from an executed notebook file in place."""
    nb = nbformat.read(path, as_version=4)
    nbformat.write(strip_noise(nb), path)


def notebook_to_html(notebook: Path) -> str:
    """Standalone HTML of an executed notebook: outputs and markdown only, no code, no prompts."""
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    return body


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
