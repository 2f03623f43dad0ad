"""Monitoring of served traffic: the monitor stage's report over the service's request log.

``tabstudy monitor --requests LOG [--labels FILE] [--out DIR]`` (``make
monitor-requests``) reads the JSON-lines request log (default ``data/serving/requests.jsonl``, with
its rotated files ``.1`` ... ``.<serve.log_keep>``, oldest first): each line holds the rows' online
features, probabilities, request fields and request keys. The rows are put in the monitor's windows
by the request's own time field (the scheduled departure for the flights; the time the request
arrived for a study without one), compared with the training window (``data/processed``) and the
deployment reference the monitor stage wrote (``reports/monitoring/reference.json``, for the same
model version), and written as the same report (alerts.json, findings, tables, figures) to
``reports/monitoring/requests/``. Outcomes, once they exist, come from ``--labels`` (a CSV or
Parquet with the request key fields and the label); windows whose rows all have one get their
realised performance. Errors print one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabstudy import artifacts, paths, studies
from tabstudy.monitoring import report as monitor_report
from tabstudy.pipeline.rollout import read_labels, read_log
from tabstudy.pipeline.serve import load_config
from tabstudy.serving.requestlog import FILE_NAME
from tabstudy.spec import FeatureSet, load_spec


def time_field(spec: FeatureSet) -> str | None:
    """The request field that dates a row, declared by the study's request model."""
    return studies.get(spec.study).request_time_field


def log_rows(records: list[dict[str, Any]], field: str | None, version: str) -> pd.DataFrame:
    """The scored rows of the log lines served by model ``version``: features, score, time (the
    request's ``field``, else when the request arrived) and request key."""
    parts = []
    for r in records:
        if r.get("model_version") != version or "features" not in r:
            continue
        frame = pd.DataFrame(r["features"])
        frame[monitor_report.SCORE] = np.asarray(r["probability"], dtype=float)
        if field is not None and field in r.get("request", {}):
            frame[monitor_report.TIME] = pd.to_datetime(pd.Series(r["request"][field]))
        else:
            frame[monitor_report.TIME] = pd.to_datetime(r["time"], unit="s", utc=True).tz_convert(
                None
            )
        frame["key"] = r.get("keys") or [None] * len(frame)
        parts.append(frame)
    if not parts:
        raise ValueError(f"no request in the log was answered by model {version}")
    return pd.concat(parts, ignore_index=True)


def attach_labels(rows: pd.DataFrame, labels: pd.Series | None) -> pd.DataFrame:
    """The label of each row by request key (NaN where the outcome is not known)."""
    out = rows.copy()
    out[monitor_report.LABEL_COLUMN] = (
        np.nan
        if labels is None
        else out["key"].map(labels[~labels.index.duplicated()]).astype(float)
    )
    return out


def key_fields(records: list[dict[str, Any]]) -> list[str]:
    """The request key fields the service logged."""
    for r in records:
        if r.get("key_fields"):
            return list(r["key_fields"])
    raise ValueError("no line of the request log names its key fields (an older service?)")


def run(
    requests: Path, labels_file: Path | None, out: Path, seed: int | None = None
) -> monitor_report.Report:
    """Build and write the report of the request log (see the module docstring)."""
    cfg = load_config("monitor", "evaluate")
    assert cfg.monitor is not None and cfg.evaluate is not None
    reference = monitor_report.Reference.read(paths.monitoring_dir())
    records = read_log(requests)
    spec = load_spec()
    rows = log_rows(records, time_field(spec), reference.model_version)
    labels = None if labels_file is None else read_labels(labels_file, key_fields(records))
    rows = attach_labels(rows, labels)
    train = pd.read_parquet(paths.processed("train"))
    families = {f.name: f.source for f in spec.features}
    stats = artifacts.read_json(paths.reference_stats())
    result = monitor_report.monitor(
        train, rows, spec.categorical(), spec.numeric(), families, reference, cfg.monitor,
        cfg.evaluate.min_roc_auc, cfg.seed if seed is None else seed, reference_stats=stats,
        words=spec.words,
    )  # fmt: skip
    result.write(out)
    for name, fig in monitor_report.figures(result, reference, cfg.monitor).items():
        artifacts.save_figure(fig, out / f"{name}.png")
    return result


def main(
    requests: Path | None = None,
    labels: Path | None = None,
    out: Path | None = None,
    seed: int | None = None,
) -> int:
    """``tabstudy monitor``: write the request log's monitoring report (see the module
    docstring); the log defaults to the service's, ``out`` to ``reports/monitoring/requests``.
    Returns the exit status (2: unreadable input, named)."""
    requests = requests or paths.request_log_dir() / FILE_NAME
    out = out or paths.monitoring_dir() / "requests"
    try:
        result = run(requests, labels, out, seed)
    except ValueError as err:  # DataReadError is one
        print(f"monitor: {err}", file=sys.stderr)
        return 2
    print("\n".join(result.findings))
    print(f"written: {paths.rel(out / 'alerts.json')} (and the tables, findings, figures)")
    return 0
