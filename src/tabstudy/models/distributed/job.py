"""A multi-worker training job: what the launcher writes for the workers (the encoded splits,
the core's arguments, the fit settings) and what they write back (weights, history, reports)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tabstudy import artifacts
from tabstudy.models import keras_model
from tabstudy.models.keras_model import Encoded, Hyperparameters

JOB_FILE = "job.json"
WEIGHTS_FILE = "core-weights.npz"
HISTORY_FILE = "history.json"
LABELS_KEY = "__labels__"


class WorkerFailed(RuntimeError):
    """A worker process exited non-zero (or did not finish in time); the others were killed.

    Attributes:
        index: the worker's task index (0 is the chief).
        returncode: its exit status (negative: killed by that signal; None: timed out).
        stderr_tail: the last lines of its stderr.
    """

    def __init__(
        self, index: int, returncode: int | None, stderr_tail: str, note: str = ""
    ) -> None:
        status = "did not finish in time" if returncode is None else f"exited with {returncode}"
        super().__init__(
            f"multi-worker training: worker {index} {status}{note}; the other workers were "
            f"stopped. Last lines of its stderr:\n{stderr_tail}"
        )
        self.index, self.returncode, self.stderr_tail = index, returncode, stderr_tail


@dataclass(frozen=True)
class CoreArgs:
    """What :func:`keras_model.build_core` takes: enough to build the same core in any process."""

    sizes: dict[str, int]
    n_numeric: int
    hparams: Hyperparameters
    positive_rate: float

    def build(self) -> keras.Model:
        """A freshly initialised, compiled core."""
        return keras_model.build_core(self.sizes, self.n_numeric, self.hparams, self.positive_rate)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hparams": dataclasses.asdict(self.hparams)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CoreArgs:
        return cls(
            {str(k): int(v) for k, v in values["sizes"].items()},
            int(values["n_numeric"]),
            Hyperparameters.from_dict(values["hparams"]),
            float(values["positive_rate"]),
        )


@dataclass(frozen=True)
class FitSettings:
    """How the core is fitted: epoch cap, *global* batch size, early-stopping patience, seed."""

    epochs: int
    batch_size: int
    patience: int
    seed: int
    class_weight: tuple[float, float] | None = None
    """Loss weights of class 0 and class 1 (:func:`keras_model.class_weights`); None: equal."""


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker reads: the encoded splits (``.npz``), the core, the fit, the output."""

    train: str
    valid: str
    core: CoreArgs
    fit: FitSettings
    output: str
    threads: int

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "core": self.core.to_dict()}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> WorkerJob:
        raw = json.loads(text)
        return cls(
            raw["train"],
            raw["valid"],
            CoreArgs.from_dict(raw["core"]),
            FitSettings(**raw["fit"]),
            raw["output"],
            int(raw["threads"]),
        )


@dataclass(frozen=True)
class MultiWorkerResult:
    """A finished multi-worker training: the core (in this process), history, worker reports."""

    core: keras.Model
    history: dict[str, list[float]]
    reports: list[dict[str, Any]]


def save_encoded(examples: Encoded, path: Path) -> None:
    """Write an encoded split (features and labels) to one ``.npz``."""
    arrays = {n: np.asarray(v) for n, v in examples.features.items()}
    if LABELS_KEY in arrays:
        raise ValueError(f"a feature may not be named {LABELS_KEY!r}")
    with artifacts.atomic_path(path, ".npz", staged=False) as tmp:
        np.savez(tmp, **arrays, **{LABELS_KEY: np.asarray(examples.labels)})


def load_encoded(path: Path) -> Encoded:
    """Read a split written by :func:`save_encoded` (as tensors, like ``encoded_examples``)."""
    import tensorflow as tf

    with np.load(path, allow_pickle=False) as data:
        feats = {n: tf.constant(data[n]) for n in data.files if n != LABELS_KEY}
        return Encoded(feats, tf.constant(data[LABELS_KEY]))


def save_weights(model: keras.Model, final: Path) -> None:
    """Write ``model.get_weights()`` (in order) to one ``.npz``, atomically. (Not Keras's
    ``.weights.h5``: that also holds the optimizer state, which a core built elsewhere lacks,
    and loading it warns.)"""
    with artifacts.atomic_path(final, ".npz", staged=False) as tmp:
        np.savez(tmp, *model.get_weights())


def load_weights(model: keras.Model, path: Path) -> None:
    """Set ``model``'s weights from a file of :func:`save_weights` (shapes are checked)."""
    with np.load(path, allow_pickle=False) as data:
        model.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])


def write_inputs(
    work: Path, core: CoreArgs, train: Encoded, valid: Encoded, fit: FitSettings, threads: int
) -> Path:
    """Write the encoded splits and the job file into ``work``; return the job file."""
    save_encoded(train, work / "train.npz")
    save_encoded(valid, work / "valid.npz")
    job = WorkerJob(str(work / "train.npz"), str(work / "valid.npz"), core, fit, str(work), threads)
    artifacts.write_text(job.to_json(), work / JOB_FILE, staged=False)
    return work / JOB_FILE


def read_outputs(work: Path, core: CoreArgs, workers: int) -> MultiWorkerResult:
    """The chief's weights loaded into a core built here, its history and every report."""
    model = core.build()
    load_weights(model, work / WEIGHTS_FILE)
    history = json.loads((work / HISTORY_FILE).read_text())
    reports = [json.loads((work / f"worker-{i}.json").read_text()) for i in range(workers)]
    return MultiWorkerResult(model, history, reports)
