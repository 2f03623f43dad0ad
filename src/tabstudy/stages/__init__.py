"""One module per pipeline stage, in run order: :mod:`.ingest`, :mod:`.validate`, :mod:`.eda`,
:mod:`.features`, :mod:`.baselines`, :mod:`.tune`, :mod:`.train`, :mod:`.evaluate`,
:mod:`.backtest`, :mod:`.monitor`, :mod:`.model_card`.

Each declares ``STAGE`` (what it reads and writes; :class:`.base.Stage`) and
``run(cfg) -> Result``, which reads its inputs and writes its declared outputs in one
transaction (:func:`.base.transaction`). Its notebook ``notebooks/NN-<name>.ipynb`` holds the
parameters cell, the narrative, one call to ``run`` and the display of the result; a test or a
console calls ``run`` the same way, without papermill::

    from tabstudy import studies
    from tabstudy.stages import ingest

    result = ingest.run(studies.from_params(ingest.STAGE.sections))  # params.yaml, resolved

(``config.from_params`` for the stages that do not read the study's sections.)

This file imports nothing, so depending on the package costs a stage nothing.
"""

NAMES: tuple[str, ...] = (
    "ingest",
    "validate",
    "eda",
    "features",
    "baselines",
    "tune",
    "train",
    "evaluate",
    "backtest",
    "monitor",
    "model_card",
)
"""The notebook stages in run order (their notebooks' numbers follow it)."""
