"""Study plugins behind one registry: the only place that knows which study runs.

A study turns its raw data into everything study-specific the pipeline needs: the raw tables
(:meth:`Study.ingest`), the label (:meth:`Study.label`, the one label builder that validation,
EDA and features all call), the rows EDA describes, and the processed splits with their
:class:`~tabstudy.spec.FeatureSet`. Stages ask ``studies.get(cfg.data.source)`` and never compare
``source`` themselves. Everything after the features stage reads the spec, never a study.

A stage that reads the study's sections (``data``, ``target``, ``features``) builds its config
with :func:`stage_config`, which validates them with the models of the study ``data.source``
names (``studies/<study>/config.py``).

Adding a dataset: write ``studies/<name>/`` implementing :class:`~tabstudy.studies.base.Study`,
with its section models in ``studies/<name>/config.py`` (its ``sections``), and register it in
:data:`REGISTRY` below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tabstudy import config
from tabstudy.studies.base import Labelled, Study, by_source
from tabstudy.studies.flights import FlightsStudy
from tabstudy.studies.table import TableStudy

__all__ = ["REGISTRY", "Labelled", "Study", "from_params", "get", "section_models", "stage_config"]


REGISTRY: dict[str, Study] = {s.source: s for s in (FlightsStudy(), TableStudy())}
"""Every study, by the ``data.source`` that selects it."""


def get(source: str) -> Study:
    """The study that ``data.source`` names.

    Raises:
        KeyError: naming the known sources.
    """
    return by_source(REGISTRY, source)


def section_models(source: str) -> Mapping[str, type[config.Section]]:
    """The models of the ``data``, ``target`` and ``features`` sections of the study ``source``
    names (:class:`KeyError` naming the known sources)."""
    return get(source).sections


def stage_config(profile: str, seed: int, **sections: Mapping[str, Any]) -> config.StageConfig:
    """:func:`tabstudy.config.stage_config` for a stage that reads the study's sections: they are
    validated with the models of the study ``data.source`` names."""
    return config.stage_config(profile, seed, study_models=section_models, **sections)


def from_params(
    sections: Sequence[str], params: Mapping[str, Any] | None = None
) -> config.StageConfig:
    """:func:`tabstudy.config.from_params` with the study's section models."""
    return config.from_params(sections, params, study_models=section_models)
