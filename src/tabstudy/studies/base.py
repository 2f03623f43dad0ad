"""What a study plugin is, offline: the :class:`Study` protocol and the :class:`Labelled` rows its
label builder returns (kept apart from the registry so that plugins import this, not the
registry).

Its online half (request model, request-time features) is another protocol,
:class:`tabstudy.studies.online.ServingStudy`, in modules no offline stage imports: a stage
depends in ``dvc.yaml`` on the code it executes, so model and serving code stay out of the data
stages' dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from tabstudy.config import Section
from tabstudy.data.schema import Anomaly
from tabstudy.eda import EdaFrame
from tabstudy.spec import FeatureSet


@dataclass(frozen=True)
class Labelled:
    """The labelled rows of a study's fact table.

    Attributes:
        frame: the fact table's rows that have a label, with the label in ``spec.LABEL``.
        table: the fact table's name.
        column: the raw column the label is derived from (named in messages).
        definition: when the label is 1, in words.
        dropped: rows left out because their label is unknown.
    """

    frame: pd.DataFrame
    table: str
    column: str
    definition: str
    dropped: int


class Study(Protocol):
    """What a study plugin provides. ``data``, ``target`` and ``features`` are the study's own
    config models (``sections``, declared in ``studies/<study>/config.py``)."""

    source: str
    sections: Mapping[str, type[Section]]
    """The models of its ``data``, ``target`` and ``features`` sections."""
    request_time_field: str | None
    """The request field that dates a served row (None: the time the request arrived)."""

    def ingest(self, data: Any, seed: int) -> dict[str, pd.DataFrame]:
        """The raw tables, by name (the fact table is ``data.table``)."""
        ...

    def source_files(self, data: Any) -> dict[str, Path]:
        """The file each raw table was read from (named in validation errors)."""
        ...

    def source_facts(self, data: Any) -> dict[str, str]:
        """Where the data came from, for the ingest metrics (e.g. a file's path and digest)."""
        ...

    def label(self, tables: dict[str, pd.DataFrame], data: Any, target: Any) -> Labelled:
        """The one label builder: labelled rows of the fact table."""
        ...

    def target_anomalies(
        self, tables: dict[str, pd.DataFrame], data: Any, target: Any
    ) -> list[Anomaly]:
        """Hard rules of the target (present, not all missing, two classes), checked on
        :meth:`label`'s output."""
        ...

    def eda_frame(
        self, tables: dict[str, pd.DataFrame], data: Any, target: Any, features: Any
    ) -> EdaFrame:
        """The labelled rows EDA describes, and what to break them down by."""
        ...

    def build(
        self, tables: dict[str, pd.DataFrame], data: Any, target: Any, features: Any, seed: int
    ) -> tuple[dict[str, pd.DataFrame], FeatureSet]:
        """The train/valid/test splits (features, label, slice and time columns) and their spec."""
        ...

    def about(self, target: Any, features: Any) -> str:
        """How the study builds its rows and label, in Markdown with the params' values (the
        features page shows it)."""
        ...

    def feature_sections(self, train: pd.DataFrame, spec: FeatureSet) -> list[str | pd.DataFrame]:
        """The study's own sections of the features page, on the training rows: Markdown text
        (headings included) and tables, in order; empty when it has none."""
        ...

    def materialize(
        self, tables: dict[str, pd.DataFrame], target: Any, features: Any, path: Path,
        bundle_sha256: str,
    ) -> dict[str, int]:  # fmt: skip
        """Build the online store at ``path`` from the raw tables; its row counts per table."""
        ...


T = TypeVar("T")


def by_source(registry: Mapping[str, T], source: str) -> T:
    """The plugin of ``registry`` that ``data.source`` names.

    Raises:
        KeyError: naming the known sources.
    """
    try:
        return registry[source]
    except KeyError:
        raise KeyError(
            f"unknown data.source {source!r}; known studies: {', '.join(registry)}"
        ) from None
