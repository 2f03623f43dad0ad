"""Your own table (``data.source: file``): one CSV or Parquet file, its label a column compared
with a value, each other column a feature (:mod:`.features`). A table has no entities: serving
takes the raw feature columns in the request."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabstudy import artifacts, paths
from tabstudy.data import store
from tabstudy.data.ingest import sample_rows
from tabstudy.data.readers import DataReadError, read_table_file
from tabstudy.data.schema import Anomaly, check_target
from tabstudy.eda import MAX_GROUP_LEVELS, EdaFrame, add_calendar
from tabstudy.spec import LABEL, FeatureSet, Words
from tabstudy.studies.base import Labelled
from tabstudy.studies.table import config as study_config
from tabstudy.studies.table import features
from tabstudy.studies.table.config import FileData, FileTarget, TableFeatures


def _fail(table: str, column: str, rule: str, count: int, example: str) -> Anomaly:
    return Anomaly(table, column, rule, "hard", count, 1.0, "fail", [example])


class TableStudy:
    """A study of one table of your own (see the module docstring)."""

    source = features.STUDY
    sections = study_config.SECTIONS
    request_time_field = None
    """Your table's rows carry no request time: served rows are dated by when they arrived."""

    def ingest(self, data: FileData, seed: int) -> dict[str, pd.DataFrame]:
        """The file as one table named after it, sampled by ``data.sample_frac``.

        Raises:
            DataReadError: naming the file as params.yaml spells it (not a machine path).
        """
        resolved = paths.resolve(data.path)
        try:
            frame = read_table_file(resolved, delimiter=data.delimiter)
        except DataReadError as err:
            raise DataReadError(str(err).replace(str(resolved), data.path)) from None
        return {data.table: sample_rows(frame, data.sample_frac, seed)}

    def source_files(self, data: FileData) -> dict[str, Path]:
        """The user's file, as params.yaml spells it (relative to the project root)."""
        return {data.table: Path(data.path)}

    def source_facts(self, data: FileData) -> dict[str, str]:
        """The file's path as written in params.yaml and its SHA-256."""
        digest = artifacts.sha256_file(paths.resolve(data.path))
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
        """The target column is present, not all missing, holds the positive value and another
        one; examples are the column's own values (with counts), not the 0/1 label."""
        table = tables.get(data.table)
        if table is None:
            return []  # already a hard anomaly of the contract ("table present")
        column = target.column
        if column not in table.columns:
            return [
                _fail(data.table, column, "target column present", len(table),
                      features.columns_text(list(table.columns), column))
            ]  # fmt: skip
        values = table[column]
        y = features.positive_mask(values, target.positive)
        found = check_target(y, data.table, column)
        held = features.value_counts_text(values)
        if values.notna().any() and not (y == 1.0).any():
            found.append(
                _fail(data.table, column, "positive value occurs", len(table),
                      f"no row equals {target.positive!r} (target.positive); it holds {held}")
            )  # fmt: skip
            return [a for a in found if a.rule != "target has two classes"]
        return [
            a if a.status == "ok" or a.rule != "target has two classes"
            else _fail(data.table, column, a.rule, a.count,
                       f"every labelled row equals {target.positive!r}; the column holds {held}")
            for a in found
        ]  # fmt: skip

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
        for c in nums:  # text declared numeric: parsed, or stopped naming the column
            if not pd.api.types.is_numeric_dtype(raw[c]):
                features.numeric_column(raw[c], c, data.path)  # errors count the file's rows
                frame = frame.assign(**{c: features.numeric_column(frame[c], c, data.path)})
        time_groups: list[str] = []
        if features_cfg.time_column:
            column = features_cfg.time_column
            features.time_column(raw[column], column, data.path)  # errors count the file's rows
            when = features.time_column(frame[column], column, data.path)
            frame, derived = add_calendar(frame, when, column)
            time_groups = [c for c in derived if frame[c].nunique() > 1]
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
            words=Words.of_table(features_cfg.time_column),
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

    def about(self, target: FileTarget, features_cfg: TableFeatures) -> str:
        """How the rows are built, in Markdown (:func:`.features.about`)."""
        return features.about(target, features_cfg)

    def feature_sections(self, train: pd.DataFrame, spec: FeatureSet) -> list[str | pd.DataFrame]:
        """None: a table's columns are its features, shown in the spec above."""
        return []

    def materialize(
        self, tables: dict[str, pd.DataFrame], target: FileTarget, features: TableFeatures,
        path: Path, bundle_sha256: str,
    ) -> dict[str, int]:  # fmt: skip
        """A store with only its ``meta``: nothing to look up (a table has no entities), but
        the file records the bundle it was built for."""
        meta = {"study": self.source, "bundle_sha256": bundle_sha256, "watermarks": {}}
        store.build(path, lambda con: store.write_meta(con, meta))
        return {}
