"""The online half of every study, behind its own registry: how a request describes one row
and how such rows become the model's raw features at request time.

Only the service and batch scoring import this module (:mod:`tabstudy.pipeline.serve`,
:mod:`tabstudy.pipeline.score`); the offline half (:mod:`tabstudy.studies`, the
:class:`~tabstudy.studies.base.Study` protocol) never imports serving code or model types, so
editing them never makes a data stage stale.

Adding a study: beside its offline plugin, write a class with ``source``, :meth:`request_model`
and :meth:`online` (its module under ``studies/<name>/online.py``) and register it in
:data:`REGISTRY` below.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from tabstudy.serving.features import OnlineFeatures
from tabstudy.studies.base import by_source
from tabstudy.studies.flights.online import FlightsServing
from tabstudy.studies.table.online import TableServing

if TYPE_CHECKING:
    from tabstudy.models.bundle import Bundle

__all__ = ["REGISTRY", "ServingStudy", "get"]


class ServingStudy(Protocol):
    """What the service needs from a study."""

    source: str

    def request_model(self, bundle: Bundle) -> type[BaseModel]:
        """The pydantic model of one request row (the service's OpenAPI schema)."""
        ...

    def online(self, bundle: Bundle, store_path: Path) -> OnlineFeatures:
        """Request-time features for ``bundle``, from the online store at ``store_path`` (the
        caller has checked that the store was built for this bundle)."""
        ...


REGISTRY: dict[str, ServingStudy] = {s.source: s for s in (FlightsServing(), TableServing())}
"""The online half of every study, by the ``data.source`` that selects it."""


def get(source: str) -> ServingStudy:
    """The online half of the study that ``data.source`` names.

    Raises:
        KeyError: naming the known sources.
    """
    return by_source(REGISTRY, source)
