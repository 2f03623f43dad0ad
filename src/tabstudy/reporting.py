"""Rendered reports: executed notebooks tidied (no start-up noise) and turned into standalone
HTML with the code hidden. The index page is :mod:`tabstudy.pipeline.index`."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
from IPython.display import Markdown, display
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from tabstudy import artifacts, paths

# C++ start-up chatter of TensorFlow/absl that ignores TF_CPP_MIN_LOG_LEVEL, and keras-tuner's
# "Reloading Tuner from <machine path>" when a search resumes; they say nothing about the study,
# so they are dropped from executed notebooks (real warnings and errors are kept).
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} [\d:. ]+\d+ "
    r"(port|cpu_feature_guard|node_def_util)\.cc|To enable the following instructions|"
    r"INFO:tensorflow:Assets written to|Reloading (Tuner|Oracle) from)"
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


def warnings_in(nb: Any) -> list[str]:
    """The Python warnings an executed notebook printed (one line each, in order, no repeats)."""
    found: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found += [ln for ln in out["text"].splitlines() if WARNING_LINE.match(ln)]
    return list(dict.fromkeys(found))


def clean_executed(path: Path) -> Any:
    """Strip start-up noise and volatile metadata from an executed notebook file in place;
    return the cleaned notebook (read once, for the HTML page and the warnings)."""
    nb = stable_metadata(strip_noise(nbformat.read(path, as_version=4)))
    nbformat.write(nb, path)
    return nb


REFERENCE_NOTE_TAG = "reference-note"
PAGE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
nav { font-size: .9rem; margin-bottom: 1rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #f4f4f4; }
td { max-width: 36rem; }
.output_subarea, .text_cell_render { overflow-x: auto; max-width: 100%; }
pre { background: #f7f7f7; padding: .5rem; overflow-x: auto; font-size: .85rem; }
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] pre { background: #fff5e6; }
img { max-width: 100%; }
a.anchor-link { visibility: hidden; margin-left: .3rem; text-decoration: none; }
h1:hover a.anchor-link, h2:hover a.anchor-link, h3:hover a.anchor-link { visibility: visible; }
"""


def page_title(nb: Any, default: str) -> str:
    """The notebook's first Markdown heading (``# 03 · Exploratory analysis``), or ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


def notebook_to_html(nb: Any, default_title: str, index_href: str = "../index.html") -> str:
    """A standalone, light HTML page of an executed notebook: outputs and Markdown only (no
    code, no prompts), titled by its first heading, with a link back to the report index, one
    small stylesheet and no script (nothing is loaded from the network)."""
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    # the note about the stored smoke-profile outputs is for the committed notebook only
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=(REFERENCE_NOTE_TAG,), enabled=True), enabled=True
    )
    body, _ = exporter.from_notebook_node(nb)
    title = html.escape(page_title(nb, default_title))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        f'<nav><a href="{index_href}">&larr; all reports</a></nav>\n{body}\n</body>\n</html>\n'
    )


def publish_findings(found: list[str], stage: str) -> Any:
    """Write a stage's findings (sentences computed from its numbers) to its findings file and
    return them as a Markdown list for the report page."""
    artifacts.write_json(found, paths.findings_file(stage))
    return bullets(found)


def bullets(found: list[str]) -> Any:
    """Sentences as a Markdown list (a stage's findings on its report page)."""
    return Markdown("\n".join(f"- {f}" for f in found))


WHOLE_TABLES: dict[str, Any] = {
    "display.max_columns": None,  # no elided columns: a wide table scrolls in its box (PAGE_CSS)
    "display.max_colwidth": None,  # no cell text cut short
    "display.max_rows": 500,  # longer tables belong in a plot or a file, not on a page
}
"""The pandas display options of the report pages (:func:`whole_tables`)."""


def whole_tables() -> None:
    """Show tables whole in this kernel (every column, every cell's full text, up to 500 rows):
    each notebook calls it first, so its page never elides a column or cuts a cell."""
    for option, value in WHOLE_TABLES.items():
        pd.set_option(option, value)


def show(*parts: str | pd.DataFrame) -> None:
    """Display each part in order: text as Markdown (empty text: nothing), anything else (a
    table) as itself."""
    for part in parts:
        if isinstance(part, str):
            if part:
                display(Markdown(part))
        else:
            display(part)


def table_or_note(table: pd.DataFrame, note: str) -> Any:
    """``table``, or ``note`` as Markdown when the table has no rows (a page shows a sentence,
    not an empty table)."""
    return Markdown(note) if table.empty else table


class _PageScan(HTMLParser):
    """A page read once: its visible text, its headings and other content in order, and the
    text of every table cell (scripts, styles and the head left out)."""

    HIDDEN = frozenset({"script", "style", "head"})
    CONTENT = frozenset({"img", "svg", "table", "pre", "ul", "ol", "iframe"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.text: list[str] = []
        self.flow: list[tuple[int, str]] = []  # (heading level, text); level 0: other content
        self.cells: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = (int(tag[1]), [])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in self.CONTENT and self._heading is None and not self.hidden:
            self.flow.append((0, tag))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            level, parts = self._heading
            self.flow.append((level, "".join(parts).replace("\u00b6", "").strip()))
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        self.text.append(data)
        if self._heading is not None:
            self._heading[1].append(data)
        elif data.strip():
            self.flow.append((0, data.strip()))
        if self._cell is not None:
            self._cell.append(data)


def _scan(page: str) -> _PageScan:
    scan = _PageScan()
    scan.feed(page)
    scan.close()
    return scan


def visible_text(page: str) -> str:
    """The text a reader sees on an HTML page: tags, scripts, styles and the head removed,
    entities decoded."""
    return "".join(_scan(page).text)


SERIES_FOOTER = re.compile(r"(?:Name: [^\n]*?, )?(?:Length: \d+, )?dtype: \w+")
ELIDED = re.compile(r"\b\d+ rows × \d+ columns\b")
ELLIPSES = ("...", "\u2026")


def empty_headings(flow: list[tuple[int, str]]) -> list[str]:
    """Headings with nothing under them: followed directly by a heading of the same or a higher
    level, or by the end of the page (``flow``: headings by level, other content as level 0)."""
    out = []
    for i, (level, text) in enumerate(flow):
        if level == 0:
            continue
        after = flow[i + 1][0] if i + 1 < len(flow) else None
        if after is None or 0 < after <= level:
            out.append(text)
    return out


def page_problems(page: str) -> list[str]:
    """What a rendered page shows that a reader should not see, one line each: a pandas Series'
    ``Name: ..., dtype: ...`` footer, a table with elided rows or columns (``...`` cells, "8
    rows × 21 columns"), a table cell cut short with ``...``, a heading with nothing under it.
    An empty list: the page is clean."""
    scan = _scan(page)
    text = "".join(scan.text)
    out = [f"pandas Series footer {m.group(0)!r}" for m in SERIES_FOOTER.finditer(text)]
    out += [f"elided table ({m.group(0)})" for m in ELIDED.finditer(text)]
    if any(cell in ELLIPSES for cell in scan.cells):
        out.append("a table with elided rows or columns ('...' cells)")
    out += [
        f"table cell cut short: {cell!r}"
        for cell in scan.cells
        if cell.endswith(ELLIPSES) and cell not in ELLIPSES
    ]
    out += [f"empty heading {h!r}" for h in empty_headings(scan.flow)]
    return out
