"""The ``features`` stage: the study's point-in-time features, split by time into train,
valid and test (``data/processed``), the feature spec, a leakage guard, and the reference
statistics the drift checks compare against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from tabstudy import artifacts, config, eda, paths, studies
from tabstudy.data import ingest, leakage
from tabstudy.data import splits as split_tables
from tabstudy.monitoring import drift
from tabstudy.spec import LABEL, FeatureSet, save_spec
from tabstudy.stages.base import Stage, metrics, rel, transaction

STAGE = Stage(
    "features",
    ("data", "target", "features"),
    deps=(rel(paths.raw_dir()), metrics("validate")),
    outs=(rel(paths.processed_dir()),),
    metrics=(metrics("features"),),
)


@dataclass(frozen=True)
class Result:
    """The splits, the spec, each feature's single-feature AUC (the leakage guard's evidence),
    the split summary and the study's words about its features."""

    splits: dict[str, pd.DataFrame]
    spec: FeatureSet
    single: pd.DataFrame
    summary: pd.DataFrame
    about: str
    sections: list[Any]

    def missing(self) -> pd.DataFrame:
        """The share of missing values per feature in the training window."""
        return eda.missing_shares(self.splits["train"], self.spec.names()).round(4)

    def relations(self) -> pd.DataFrame:
        """How the numeric features relate to each other and to the label (training window)."""
        return eda.relations(self.splits["train"], self.spec.numeric(), target=LABEL).round(3)


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Build, guard and write the features (``data``, ``target``, ``features`` sections)."""
    study = studies.get(cfg.data.source)
    splits, spec = study.build(ingest.read_raw(), cfg.data, cfg.target, cfg.features, cfg.seed)
    spec, single = leakage.guard(
        splits["train"], spec, cfg.features.leakage_auc, cfg.features.allow_leaky, cfg.seed
    )
    for name, part in splits.items():
        artifacts.write_parquet(part, paths.processed(name))
    save_spec(spec, paths.feature_spec())
    summary = split_tables.split_summary(splits, spec.time_column)
    sections = study.feature_sections(splits["train"], spec)  # the study's own (flights: legs)
    reference = drift.reference_stats(
        splits["train"], spec.categorical(), spec.numeric(), cfg.features.reference_bins
    )
    artifacts.write_json(reference, paths.reference_stats())
    top = round(float(single["auc"].max()), 6) if len(single) else None
    artifacts.write_json(
        {
            "features": spec.names(),
            "splits": summary.to_dict("index"),
            "max_single_feature_auc": top,
        },
        paths.metrics_file("features"),
    )
    return Result(
        splits, spec, single, summary, study.about(cfg.target, cfg.features), list(sections)
    )
