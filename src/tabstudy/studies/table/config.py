"""The sections of params.yaml for your own table (``data.source: file``): ``data`` (the file),
``target`` (the column and its positive value) and ``features`` (time column, column kinds,
split fractions). :func:`tabstudy.studies.stage_config` validates them when ``data.source`` is
``file``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from tabstudy.config import FeaturesCommon, Section


class FileData(Section):
    """Your own CSV or Parquet table (``data.source: file``) at ``path`` (relative to the
    project root)."""

    source: Literal["file"]
    sample_frac: float = Field(gt=0.0, le=1.0, description="share of rows kept at ingest")
    path: str = Field(min_length=1, description="the CSV or Parquet table")
    delimiter: str = Field(min_length=1, max_length=1, description="CSV field separator")

    @property
    def table(self) -> str:
        """Name of the fact table: the file name without its suffix."""
        return Path(self.path).stem


class FileTarget(Section):
    """Your own table: positive = ``column`` equals ``positive`` (``target`` section)."""

    column: str = Field(min_length=1, description="the target column")
    positive: str | int | float | bool = Field(description="the value that counts as positive")


class TableFeatures(FeaturesCommon):
    """Your own table (``features`` section): ``time_column`` (time-ordered split by
    ``valid_frac``/``test_frac`` when set, a stratified random split otherwise),
    ``categorical``/``numeric`` (inferred from the column types when null) and ``exclude``
    (identifiers, leaky columns)."""

    time_column: str | None
    categorical: list[str] | None
    numeric: list[str] | None
    exclude: list[str]
    valid_frac: float = Field(gt=0.0, lt=0.5)
    test_frac: float = Field(gt=0.0, lt=0.5)


SECTIONS: dict[str, type[Section]] = {
    "data": FileData,
    "target": FileTarget,
    "features": TableFeatures,
}
"""The models of the table study's sections."""
