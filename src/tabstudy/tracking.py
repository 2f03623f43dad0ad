"""Experiment tracking with Weights & Biases, offline by default.

Every tune trial and every training run is one W&B run: its parameters (``config``), one row of
metrics per epoch (from :class:`EpochLogger`, a small Keras 3 callback calling ``run.log``; W&B's
own Keras callbacks target Keras 2) and its final metrics (``run.summary``). ``WANDB_MODE`` is
respected and defaults to ``offline``: runs land in ``wandb/`` under the project root and
``wandb sync wandb/offline-run-*`` uploads them later. Tests set ``WANDB_MODE=disabled``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras

from tabstudy import paths

PROJECT = "tabstudy"
MODE_ENV = "WANDB_MODE"


def mode() -> str:
    """``offline`` unless ``$WANDB_MODE`` says otherwise (``online``, ``disabled``)."""
    return os.environ.get(MODE_ENV) or "offline"


def start_run(job: str, config: Mapping[str, Any], group: str | None = None, name: str = "") -> Any:
    """Start a W&B run for one tune trial or training run (never reaches the network offline)."""
    import wandb

    directory = paths.root()
    return wandb.init(
        project=PROJECT,
        job_type=job,
        group=group,
        name=name or None,
        config=dict(config),
        mode=mode(),  # type: ignore[arg-type]
        dir=str(directory),
        reinit="create_new",
        settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
    )


class EpochLogger(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, AUCs, learning rate, validation ones) to a W&B run."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items()}
        self.run.log({"epoch": epoch + 1, **values})


def finish(run: Any, summary: Mapping[str, Any]) -> None:
    """Record the final metrics and close the run."""
    run.summary.update({k: v for k, v in summary.items() if isinstance(v, int | float | str)})
    run.finish()
