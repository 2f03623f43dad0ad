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
# Python warnings print "<file>:<line>: <Category>: <message>" and then the source line; in a
# notebook <file> is the kernel's temporary cell file. Keep "<Category>: <message>" only.
WARNING_LOCATION = re.compile(r"^\S+\.py:\d+: (?=\w*Warning: )")


def _tidy_stream(text: str) -> str:
    """Drop start-up noise, and the location and echoed source line of each warning."""
    out: list[str] = []
    after_warning = False
    for line in text.splitlines(keepends=True):
        if NOISE.match(line) or (after_warning and line.startswith("  ")):
            after_warning = False
            continue
        tidy = WARNING_LOCATION.sub("", line)
        after_warning = tidy != line
        out.append(tidy)
    return "".join(out)


def strip_noise(nb: Any) -> Any:
    """Tidy stream outputs (:func:`_tidy_stream`); drop outputs left empty."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = _tidy_stream(out["text"])
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
