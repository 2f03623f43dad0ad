"""Study plugins behind one registry: the only place that knows which study runs.

A study turns its raw data into everything study-specific the pipeline needs: the raw tables
(:meth:`Study.ingest`), the label (:meth:`Study.label`, the one label builder that validation,
EDA and features all call), the rows EDA describes, and the processed splits with their
:class:`~tabstudy.spec.FeatureSet`. Stages ask ``studies.get(cfg.data.source)`` and never compare
``source`` themselves. Everything after the features stage reads the spec, never a study.

Adding a dataset: write ``studies/<name>/`` implementing :class:`~tabstudy.studies.base.Study`,
add its config variants to :mod:`tabstudy.config` (the ``data`` union and
:data:`~tabstudy.config.STUDY_SECTIONS`), and register it in :data:`REGISTRY` below.
"""

from __future__ import annotations

from tabstudy.studies.base import Labelled, Study, by_source
from tabstudy.studies.flights import FlightsStudy
from tabstudy.studies.table import TableStudy

__all__ = ["REGISTRY", "Labelled", "Study", "get"]


REGISTRY: dict[str, Study] = {s.source: s for s in (FlightsStudy(), TableStudy())}
"""Every study, by the ``data.source`` that selects it."""


def get(source: str) -> Study:
    """The study that ``data.source`` names.

    Raises:
        KeyError: naming the known sources.
    """
    return by_source(REGISTRY, source)
