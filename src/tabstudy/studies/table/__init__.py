"""Your own table (``data.source: file``): one CSV or Parquet file, its label a column compared
with a value, each other column a feature (:mod:`.features`). A table has no entities: serving
takes the raw feature columns in the request."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabstudy import paths
from tabstudy.config import FileData, FileTarget, TableFeatures
from tabstudy.data.ingest import file_digest, sample_rows
from tabstudy.data.readers import read_table_file
from tabstudy.data.schema import Anomaly, check_target
from tabstudy.eda import MAX_GROUP_LEVELS, EdaFrame, add_calendar
from tabstudy.spec import LABEL, FeatureSet
from tabstudy.studies.base import Labelled
from tabstudy.studies.table import features


class TableStudy:
    """A study of one table of your own (see the module docstring)."""

    source = features.STUDY

    def ingest(self, data: FileData, seed: int) -> dict[str, pd.DataFrame]:
        """The file as one table named after it, sampled by ``data.sample_frac``."""
        frame = read_table_file(paths.resolve(data.path), delimiter=data.delimiter)
        return {data.table: sample_rows(frame, data.sample_frac, seed)}

    def source_files(self, data: FileData) -> dict[str, Path]:
        """The user's file."""
        return {data.table: paths.resolve(data.path)}

    def source_facts(self, data: FileData) -> dict[str, str]:
        """The file's path as written in params.yaml and its SHA-256."""
        digest = file_digest(paths.resolve(data.path))
        return {"source": self.source, "path": data.path, "sha256": digest}

    def label(
        self, tables: dict[str, pd.DataFrame], data: FileData, target: FileTarget
    ) -> Labelled:
        """Rows whose target is known, labelled by :func:`.features.labels`."""
        raw = tables[data.table]
        y = features.labels(raw, target.column, target.positive, data.path)
        frame = raw.loc[y.notna()].copy()
        frame[LABEL] = y[y.notna()].astype("int8")
        return Labelled(
            frame.reset_index(drop=True),
            data.table,
            target.column,
            features.label_definition(target),
            int(y.isna().sum()),
        )

    def target_anomalies(
        self, tables: dict[str, pd.DataFrame], data: FileData, target: FileTarget
    ) -> list[Anomaly]:
        """The target column is present, not all missing, and has two classes."""
        table = tables.get(data.table)
        if table is None:
            return []  # already a hard anomaly of the contract ("table present")
        if target.column not in table.columns:
            return [
                Anomaly(
                    data.table,
                    target.column,
                    "target column present",
                    "hard",
                    len(table),
                    1.0,
                    "fail",
                    [f"columns: {list(table.columns)}"],
                )
            ]
        y = features.positive_mask(table[target.column], target.positive)
        return check_target(y, data.table, target.column)

    def eda_frame(
        self,
        tables: dict[str, pd.DataFrame],
        data: FileData,
        target: FileTarget,
        features_cfg: TableFeatures,
    ) -> EdaFrame:
        """Labelled rows by calendar (with a time column), categorical columns of few levels,
        and numeric columns."""
        raw = tables[data.table]
        labelled = self.label(tables, data, target)
        frame = labelled.frame
        cats, nums = features.infer_columns(raw, target.column, features_cfg, data.path)
        time_groups: list[str] = []
        if features_cfg.time_column:
            frame = add_calendar(frame, pd.to_datetime(frame[features_cfg.time_column]))
            time_groups = [c for c in ("month", "weekday", "hour") if frame[c].nunique() > 1]
        groups = [c for c in cats if frame[c].nunique() <= MAX_GROUP_LEVELS]
        notes = {"rows": len(raw), "target_missing": labelled.dropped}
        return EdaFrame(
            frame,
            f"{target.column} = {target.positive}",
            time_groups,
            groups,
            numeric=nums,
            distributions=nums,
            notes=notes,
        )

    def build(
        self,
        tables: dict[str, pd.DataFrame],
        data: FileData,
        target: FileTarget,
        features_cfg: TableFeatures,
        seed: int,
    ) -> tuple[dict[str, pd.DataFrame], FeatureSet]:
        """One feature per column; a time-ordered or stratified random split."""
        frame, spec = features.build(tables[data.table], target, features_cfg, data.path)
        ordered = features_cfg.time_column is not None
        splits = features.split(
            frame, features_cfg.valid_frac, features_cfg.test_frac, seed, ordered
        )
        return splits, spec
