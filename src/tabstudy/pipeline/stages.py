"""The stage registry: every stage of the pipeline, in run order.

A notebook stage is declared by its module, ``tabstudy.stages.<name>`` (``STAGE``: the params
sections it reads, its data dependencies, its outputs), beside the ``run`` that writes those
outputs, so each output is declared once. The command stages (``source``, ``champion``,
``materialize``, ``index``) are declared here, each naming the module that writes its outputs.
``dvc.yaml`` is generated from this registry (:mod:`.dvcgen`).

The stage modules are imported by name (:func:`importlib.import_module`), so the registry is
the dependency of no stage: the runner reads a notebook stage's parameters from its notebook.
"""

from __future__ import annotations

import importlib

from tabstudy import paths
from tabstudy.stages import NAMES
from tabstudy.stages.base import Stage, executed_outs, metrics, rel

PACKAGE = "tabstudy"


def _declared(name: str) -> Stage:
    """The ``STAGE`` declared by ``tabstudy.stages.<name>``."""
    return importlib.import_module(f"{PACKAGE}.stages.{name}").STAGE  # type: ignore[no-any-return]


STAGES: tuple[Stage, ...] = tuple(_declared(name) for name in NAMES)
"""The notebook stages, in run order."""

SOURCE = Stage(
    "source",
    ("data",),
    outs=(rel(paths.source_stamp()),),
    command="python -m tabstudy.pipeline.source",
    always_changed=True,
)
"""The SHA-256 of the files the configured study reads: ingest's data dependency, so that only
the file ``data.path`` names (not all of ``external/``) makes the study stale."""

CHAMPION = Stage(
    "champion",
    ("data",),
    outs=(rel(paths.champion_pointer()),),
    command="python -m tabstudy.pipeline.registry resolve",
    always_changed=True,
)
"""Which registered version is the champion now (GTO tags): the champion gate's rival."""

MATERIALIZE = Stage(
    "materialize",
    ("data", "target", "features"),
    deps=(rel(paths.raw_dir()), rel(paths.bundle_dir())),
    outs=(rel(paths.online_store()),),
    metrics=(metrics("materialize"),),
    command="python -m tabstudy.pipeline.materialize",
)
"""The online feature store the service reads, built from the raw tables for the bundle."""

INDEX = Stage(
    "index",
    deps=(
        rel(paths.bundle_dir()),
        *(executed_outs(s)[1] for s in STAGES),
        rel(paths.model_card("html")),
        metrics("evaluate"),
    ),
    outs=(rel(paths.index_html()),),
    command="python -m tabstudy.pipeline.index",
    common=("profile",),
)
"""The report index page: every stage's report, the model card and the headline numbers."""

COMMANDS: tuple[Stage, ...] = (SOURCE, CHAMPION, MATERIALIZE, INDEX)
"""Stages run by a src command, not a notebook (the index comes last)."""


def stage(name: str) -> Stage:
    """Look a stage up by name."""
    for s in (*STAGES, *COMMANDS):
        if s.name == name:
            return s
    known = ", ".join(s.name for s in (*STAGES, *COMMANDS))
    raise KeyError(f"unknown stage {name!r}; stages: {known}")
