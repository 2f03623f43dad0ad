"""The ``ingest`` stage: the configured study's raw tables, as read from its source, to
``data/raw`` (one Parquet file per table), with their row counts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tabstudy import artifacts, config, paths, studies
from tabstudy.data import ingest
from tabstudy.stages.base import Stage, metrics, rel, transaction

STAGE = Stage(
    "ingest",
    ("data",),
    deps=(rel(paths.source_stamp()),),
    outs=(rel(paths.raw_dir()),),
    metrics=(metrics("ingest"),),
)


@dataclass(frozen=True)
class Result:
    """What ingest wrote: each table's rows and columns."""

    summary: pd.DataFrame


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Read the study's tables (``data`` section) and write them to ``data/raw``."""
    study = studies.get(cfg.data.source)
    tables = study.ingest(cfg.data, cfg.seed)
    for name, frame in tables.items():
        artifacts.write_parquet(frame, paths.raw(name))
    summary = ingest.summary(tables)
    facts = {
        "profile": cfg.profile,
        "sample_frac": cfg.data.sample_frac,
        **study.source_facts(cfg.data),
        "rows": summary["rows"].to_dict(),
    }
    artifacts.write_json(facts, paths.metrics_file("ingest"))
    return Result(summary)
