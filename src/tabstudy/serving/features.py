"""What the service needs from a study: how a request describes one row, and how to turn such
rows into the model's raw features at request time (the study's online store, or nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel


class RowError(ValueError):
    """A request row that passed the schema but cannot be served: the service answers 422
    naming ``field`` (and ``row`` in a batch)."""

    def __init__(self, field: str, row: int, message: str) -> None:
        super().__init__(message)
        self.field, self.row = field, row


class OnlineFeatures(Protocol):
    """A study's request-time features.

    ``request_model`` is the pydantic model of one row as a caller describes it (its fields and
    examples make the OpenAPI schema); ``features`` turns columns of such rows (one list per
    field, already validated) into the model's raw features, one array per feature of the spec.
    """

    request_model: type[BaseModel]

    def features(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        """Raw features (one array per spec feature) of the rows in ``columns``."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ``/v1/metadata`` says about the store (file, watermarks), or ``{}``."""
        ...

    def event_sources(self) -> Mapping[str, Any]:
        """The store's event sources for :mod:`.freshness`: ``watermarks`` and ``first_events``
        (UTC epoch seconds by source name), or ``{}`` when the features need no store."""
        ...

    def prediction_times(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray | None:
        """Each row's prediction time (UTC epoch seconds), or None without event sources."""
        ...

    def time_field(self, columns: Mapping[str, Sequence[Any]], row: int) -> str:
        """The request field that set ``row``'s prediction time (named in a refusal)."""
        ...
