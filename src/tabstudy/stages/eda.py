"""The ``eda`` stage: the target rate by time and by group, relations between the numeric
columns, missingness and distributions, as figures, DVC plot tables and findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, eda, paths, reporting, studies
from tabstudy.data import ingest
from tabstudy.stages.base import Stage, figure, metrics, rel, transaction

STAGE = Stage(
    "eda",
    ("data", "target", "features"),
    deps=(rel(paths.raw_dir()), metrics("validate")),
    outs=(rel(paths.figures_dir("eda")), rel(paths.findings_file("eda"))),
    metrics=(metrics("eda"),),
    headline=(("rows", "rows"),),
    plots=(rel(paths.plots_dir("eda")),),
)


@dataclass(frozen=True)
class Result:
    """What the EDA found: the labelled rows, rates by group (with their figures), relations,
    missingness, the distributions figure and the findings."""

    frame: eda.EdaFrame
    by_group: dict[str, pd.DataFrame]
    figures: dict[str, Any]
    related: pd.DataFrame
    missing: pd.DataFrame
    findings: list[str]

    def group(self, column: str) -> tuple[Any, pd.DataFrame]:
        """The figure and the table of the rate by ``column``."""
        return self.figures[f"by_{column}"], self.by_group[column].round({"rate": 4})


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Describe the raw tables as the study frames them (``data``, ``target``, ``features``)."""
    tables = ingest.read_raw()
    frame = studies.get(cfg.data.source).eda_frame(tables, cfg.data, cfg.target, cfg.features)
    by_group: dict[str, pd.DataFrame] = {}
    figures: dict[str, Any] = {}
    for column, min_count in [
        *((c, 20) for c in frame.time_groups),
        *((c, 100) for c in frame.groups),
    ]:
        table = eda.rate_by(frame.frame, column, min_count=min_count)
        by_group[column] = table if column in frame.time_groups else table.sort_values("rate")
        fig = eda.bar_rate(by_group[column], f"Rate by {column}", column, frame.label)
        figures[f"by_{column}"] = figure(fig, paths.figure("eda", f"by_{column}"))
    related = eda.relations(frame.frame, frame.numeric)
    missing = eda.missingness(tables)
    distributions = eda.histograms(frame.frame, frame.distributions)
    figures["distributions"] = figure(distributions, paths.figure("eda", "distributions"))
    found = eda.findings(frame, by_group, related, missing)
    for name, table in eda.plot_tables(frame, by_group, related).items():  # DVC plots, not metrics
        artifacts.write_csv(table, paths.plots_dir("eda") / f"{name}.csv")
    artifacts.write_json(
        {"positive_rate": float(frame.frame[eda.TARGET].mean()), "rows": len(frame.frame)},
        paths.metrics_file("eda"),
    )
    reporting.publish_findings(found, "eda")
    return Result(frame, by_group, figures, related, missing, found)
