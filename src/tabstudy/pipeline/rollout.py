"""The canary/shadow comparison report from the service's request log (``make rollout-report``).

``tabstudy rollout-report [--requests LOG] [--labels FILE]`` reads the JSON-lines
request log (default ``data/serving/requests.jsonl``, with its rotated files ``.1`` ...
``.<serve.log_keep>``, oldest first), keeps the rows served in a rollout, and writes
``reports/rollout/comparison.{json,md,html}``: the share each variant answered, decision agreement,
score shift, and once outcomes exist (``--labels``: a CSV or Parquet with the request key fields,
e.g. carrier, flight, origin, sched_dep for the flights, and the label column) each variant's ROC
AUC with a bootstrap 95% interval. Errors print one line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from tabstudy import artifacts, evaluation, monitoring, paths
from tabstudy.data.readers import read_table_file
from tabstudy.serving import requestlog, rollout
from tabstudy.serving.requestlog import FILE_NAME
from tabstudy.spec import LABEL


def read_log(path: Path) -> list[dict[str, Any]]:
    """The log's lines as dicts, its rotated files first (:func:`.requestlog.read`);
    :class:`ValueError` naming the file and line of a bad one."""
    return requestlog.read(path)


def read_labels(path: Path, key_fields: list[str], label: str = LABEL) -> pd.Series:
    """Outcomes indexed by request key, from a file with the key fields and ``label``."""
    frame = read_table_file(path, required=[*key_fields, label])
    bad = frame.loc[~frame[label].isin([0, 1]), label]
    if not bad.empty:
        raise ValueError(
            f"{paths.rel(path)}: column {label!r} must be 0 or 1, found {bad.iloc[0]!r}"
        )
    for f in key_fields:  # a Parquet timestamp as the service writes it (ISO 8601)
        if pd.api.types.is_datetime64_any_dtype(frame[f]):
            frame[f] = frame[f].dt.strftime("%Y-%m-%dT%H:%M:%S")
    keys = rollout.request_keys({f: frame[f].tolist() for f in key_fields}, key_fields)
    return pd.Series(frame[label].astype(int).to_numpy(), index=keys, name=label)


def _markdown(result: dict[str, Any], found: list[str]) -> str:
    lines = ["# Canary / shadow comparison", "", *[f"- {s}" for s in found], ""]
    for scope in ("auc_all_rows", "auc_served_rows"):
        if scope in result:
            lines += [f"## ROC AUC ({scope.removeprefix('auc_').replace('_', ' ')})", "",
                      "| variant | rows | ROC AUC | 95% CI |", "|---|---:|---:|---|"]  # fmt: skip
            for v, a in result[scope].items():
                auc = "n/a" if a["roc_auc"] is None else f"{a['roc_auc']:.4f}"
                ci = "n/a" if a["lo"] is None else f"[{a['lo']:.4f}, {a['hi']:.4f}]"
                lines.append(f"| {v} | {a['rows']:,} | {auc} | {ci} |")
            lines.append("")
    return "\n".join(lines)


def _html(markdown_text: str) -> str:
    """The Markdown report as a standalone HTML page (mistune, nbconvert's renderer; escaped)."""
    import mistune

    body = mistune.create_markdown(escape=True, plugins=["table"])(markdown_text)
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:.25rem .5rem}")  # fmt: skip
    head = f"<meta charset='utf-8'><title>Canary / shadow comparison</title><style>{style}</style>"
    return f"<!doctype html><html lang='en'><head>{head}</head><body>{body}</body></html>\n"


def main(requests: Path | None = None, labels: Path | None = None, seed: int = 0) -> int:
    """``tabstudy rollout-report``: write the comparison report (see the module docstring).
    Returns the exit status (2: unreadable input, named)."""
    requests = requests or paths.request_log_dir() / FILE_NAME
    try:
        records = read_log(requests)
        rows, earlier = monitoring.rollout.latest_pair(monitoring.rollout.rollout_rows(records))
        outcomes = None
        if labels is not None:
            fields = next((r["key_fields"] for r in records if r.get("key_fields")), None)
            if fields is None:
                raise ValueError(f"{paths.rel(requests)}: no rollout line names its key fields")
            outcomes = read_labels(labels, list(fields))
        result = monitoring.rollout.rollout_comparison(rows)
        if outcomes is not None:
            result |= evaluation.metrics.variant_auc(rows, outcomes, seed=seed)
    except ValueError as err:  # DataReadError is one
        print(f"rollout report: {err}", file=sys.stderr)
        return 2
    found = monitoring.rollout.rollout_findings(result)
    if earlier:
        found.append(
            f"{earlier:,} logged row(s) of earlier champion/challenger pairs are left out."
        )
    out = paths.rollout_dir()
    text = _markdown(result, found)
    artifacts.write_json({**result, "findings": found}, out / "comparison.json")
    artifacts.write_text(text, out / "comparison.md")
    artifacts.write_text(_html(text), out / "comparison.html")
    print("\n".join(found))
    print(f"written: {paths.rel(out / 'comparison.md')} (and .json, .html)")
    return 0
