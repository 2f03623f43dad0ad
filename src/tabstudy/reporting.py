"""Rendered reports: executed notebooks tidied (no start-up noise) and turned into standalone
HTML with the code hidden. The index page is :mod:`tabstudy.pipeline.index`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


PAPERMILL_VOLATILE: tuple[str, ...] = ("start_time", "end_time", "duration")
PAPERMILL_PATHS: tuple[str, ...] = ("input_path", "output_path")


def stable_metadata(nb: Any) -> Any:
    """Drop what changes from run to run but says nothing about the results: papermill's
    timings and machine paths, the kernel's execution timestamps, and the random id papermill
    gives its injected-parameters cell."""
    meta = nb.metadata.get("papermill")
    if meta is not None:
        for key in (*PAPERMILL_VOLATILE, *PAPERMILL_PATHS):
            meta.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in PAPERMILL_VOLATILE:
            cell.metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
    return nb


WARNING_LINE = re.compile(r"^\w*Warning: ")


def warnings_in(path: Path) -> list[str]:
    """The Python warnings an executed notebook printed (one line each, in order, no repeats)."""
    nb = nbformat.read(path, as_version=4)
    found: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found += [ln for ln in out["text"].splitlines() if WARNING_LINE.match(ln)]
    return list(dict.fromkeys(found))


def clean_executed(path: Path) -> None:
    """Strip start-up noise and volatile metadata from an executed notebook file in place."""
    nb = nbformat.read(path, as_version=4)
    nbformat.write(stable_metadata(strip_noise(nb)), path)


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
