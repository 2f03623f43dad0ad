"""The ``validate`` stage: the raw tables checked against the data contract
(``contracts/``) and the study's label rules; hard failures stop the pipeline, naming the file,
column, rule and an example value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, paths, studies
from tabstudy.data import contract, ingest, schema
from tabstudy.stages.base import Stage, metrics, rel, transaction

STAGE = Stage(
    "validate",
    ("data", "validate", "target"),
    deps=(rel(paths.raw_dir()), rel(paths.contracts_dir())),
    outs=(rel(paths.anomalies_report()),),
    metrics=(metrics("validate"),),
    headline=(("fail", "fail"), ("warn", "warn")),
)
COUNTS = ("rules", "ok", "fail", "warn", "note")


@dataclass(frozen=True)
class Result:
    """The anomalies report and every anomaly found."""

    report: dict[str, Any]
    anomalies: list[Any]

    def counts(self) -> pd.DataFrame:
        """How many rules there are, and how many passed, failed, warned or noted."""
        counts = pd.Series({k: self.report[k] for k in COUNTS}, name="count")
        return counts.rename_axis("rules").to_frame()

    def broken(self) -> pd.DataFrame:
        """The rules that did not pass."""
        return schema.anomalies_table(self.anomalies, only_broken=True)


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Check the raw tables; warn about soft anomalies, raise (naming the source files) on hard
    ones after writing the report."""
    study = studies.get(cfg.data.source)
    tables = ingest.read_raw()
    rules = contract.load_contract(paths.resolve(cfg.validate_.contract))
    anomalies = schema.validate_tables(
        tables, rules, schema.thresholds(cfg.validate_), {cfg.data.table: cfg.validate_.min_rows}
    )
    anomalies += study.target_anomalies(tables, cfg.data, cfg.target)
    report = schema.anomalies_report(anomalies, rules)
    artifacts.write_json(report, paths.anomalies_report())
    schema.warn_soft(anomalies)
    sources = {name: str(path) for name, path in study.source_files(cfg.data).items()}
    schema.raise_for_hard(anomalies, sources)
    artifacts.write_json(
        {k: report[k] for k in ("contract", *COUNTS)}, paths.metrics_file("validate")
    )
    return Result(report, anomalies)
