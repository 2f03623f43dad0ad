"""Serving a table study: a table has no entities, so a request carries the raw feature columns
themselves (the request model is generated from the feature spec) and no store is looked up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from tabstudy.serving import schemas
from tabstudy.spec import MISSING_CATEGORY, FeatureSet
from tabstudy.studies.table import features

if TYPE_CHECKING:
    from tabstudy.models.bundle import Bundle

SHARE_KEY = "categorical"


def example_row(spec: FeatureSet, reference: Mapping[str, Any]) -> dict[str, Any]:
    """A plausible row for the OpenAPI example: each categorical's most frequent training value
    and each numeric's middle quantile edge (from the bundle's drift reference)."""
    row: dict[str, Any] = {}
    for f in spec.features:
        if f.kind == "categorical":
            shares = reference.get(SHARE_KEY, {}).get(f.name, {})
            row[f.name] = max(shares, key=shares.get) if shares else None
        else:
            edges = reference.get("numeric", {}).get(f.name, {}).get("edges", [])
            row[f.name] = float(edges[len(edges) // 2]) if edges else None
    return row


def request_model(spec: FeatureSet, reference: Mapping[str, Any]) -> type[BaseModel]:
    """One row of the table: every feature of the spec."""
    return schemas.table_row_model(spec, example_row(spec, reference))


class TableOnline:
    """The request's own columns as the model's raw features (missing as in training)."""

    def __init__(self, spec: FeatureSet, model: type[BaseModel]) -> None:
        self.spec = spec
        self.request_model = model

    def features(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """Categoricals as text (missing -> the missing category), numerics as floats."""
        n = max(len(v) for v in columns.values())
        out = {}
        for f in self.spec.features:
            values = columns.get(f.name) or [None] * n
            if f.kind == "categorical":
                out[f.name] = np.array(
                    [MISSING_CATEGORY if v is None else str(v) for v in values], dtype=object
                )
            else:
                out[f.name] = np.array(
                    [np.nan if v is None else float(v) for v in values], dtype="float64"
                )
        return out

    def describe(self) -> dict[str, Any]:
        """No store: a table study has no entities."""
        return {}

    def event_sources(self) -> dict[str, Any]:
        """No event sources: nothing can go stale."""
        return {}

    def prediction_times(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """No prediction time: the request carries the features themselves."""
        return None

    def time_field(self, columns: Mapping[str, Sequence[Any]], row: int) -> str:
        """No time field (never asked: there are no event sources)."""
        return ""


class TableServing:
    """The table study's online half (:class:`tabstudy.studies.online.ServingStudy`)."""

    source = features.STUDY

    def request_model(self, bundle: Bundle) -> type[BaseModel]:
        """The feature columns of the spec, each optional."""
        return request_model(bundle.spec, bundle.reference)

    def online(self, bundle: Bundle, store_path: Path) -> TableOnline:
        """No store to look up: the request carries the features."""
        return TableOnline(bundle.spec, self.request_model(bundle))
