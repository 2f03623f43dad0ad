"""Model runtimes for the service and batch scoring: raw features in, probabilities out.

Measured side by side by ``benchmarks/inference.py`` on the test window (53,991 rows, 2 cores;
docs/inference-and-batch-scoring.md): one row p50 0.043 ms LiteRT (built-in kernels), 0.093 ms
ONNX Runtime,
1.02 ms SavedModel, 11 ms Keras call, 85 ms ``model.predict``; rows/s on 10,000-row batches of
one size 861k ONNX Runtime, 727k LiteRT, 719k SavedModel (with sizes varying call to call,
LiteRT reallocates and the SavedModel leads from about 5,000 rows: :data:`SMALL_BATCH`). All
float runtimes reproduce Keras within 2.4e-7.

- ``onnx``: the bundle's ``model.onnx`` (ONNX Runtime; the string lookups are in the graph).
- ``litert``: the bundle's ``model.tflite`` (a bundle written before the exports existed has its
  SavedModel converted in memory), one interpreter per thread.
- ``saved_model``: the SavedModel ``serve`` signature called directly: the portable runtime for
  big batches.
- ``auto`` (default): LiteRT on its built-in kernels up to :data:`SMALL_BATCH` rows, the
  SavedModel above: both compute the same bits on every x86-64 CPU (:mod:`tabstudy.numerics`).
  With ``TABSTUDY_NUMERICS=native`` the same two, LiteRT with its default delegate (XNNPACK):
  one row 0.045 ms against ONNX Runtime's 0.098 in ``benchmarks/inference.py``'s native run.
- ``keras``: the Keras model called directly (``model(x)``), kept as an option.
- ``litert_quantized``: dynamic-range quantized LiteRT, only when asked for: half the size,
  probabilities off by up to ~0.014 (ROC AUC -0.0001 on the test window), and no faster on x86.

``model.predict`` is never used. Every float runtime reproduces the offline probabilities within
1e-6 (the skew test); ``auto`` checks at start-up that its two runtimes agree on the warm-up
rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tabstudy.models import export
from tabstudy.models.bundle import Bundle

RUNTIMES: tuple[str, ...] = ("auto", "onnx", "saved_model", "litert", "keras", "litert_quantized")
SMALL_BATCH = 2048
"""Rows up to which ``auto`` uses LiteRT (``benchmarks/inference.py``'s crossover, one run,
batch sizes varying call to call so the interpreter reallocates): LiteRT 3.12, 1.80, 1.70 and
1.59 µs a row at 64, 512, 1,024 and 2,000 rows, the SavedModel 17.90, 4.32, 2.86 and 2.04; at
4,096 rows they are within 5% (1.49 and 1.57) and at 10,000 the SavedModel leads (1.34 and
1.42). Memory sets the limit below the crossover: each thread that calls LiteRT keeps its own
interpreter, whose arena stays at its largest call (2.4 MiB more than at one row after 2,000
rows, 4.0 after 4,096, 12.6 after 10,000), and a worker's threadpool has up to 40 threads.
(Before LiteRT's calls skipped the resize at an unchanged size and the byte encoding of text,
it cost 0.12 ms + 9.6 µs a row and the limit was 128.)"""
AGREEMENT = 1e-6


class Runtime(Protocol):
    """Something that turns raw feature arrays into probabilities."""

    name: str

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probabilities (float64, one per row)."""
        ...


def _kinds(bundle: Bundle) -> dict[str, str]:
    return {f.name: f.kind for f in bundle.spec.features}


def _tensors(features: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> dict[str, Any]:
    import tensorflow as tf

    return {name: tf.constant(a) for name, a in export.raw_arrays(features, kinds, str).items()}


class SavedModelRuntime:
    """The bundle's SavedModel ``serve`` signature."""

    name = "saved_model"

    def __init__(self, bundle: Bundle) -> None:
        import tensorflow as tf

        self._fn = tf.saved_model.load(str(bundle.saved_model_dir)).signatures["serve"]
        self._kinds = _kinds(bundle)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self._fn(**_tensors(features, self._kinds))
        (value,) = out.values()
        return value.numpy().reshape(-1).astype("float64")


class KerasRuntime:
    """The bundle's Keras model, called directly (no ``predict`` loop)."""

    name = "keras"

    def __init__(self, bundle: Bundle) -> None:
        self._model = bundle.keras_model()
        self._kinds = _kinds(bundle)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self._model(_tensors(features, self._kinds), training=False)
        return np.asarray(out).reshape(-1).astype("float64")


class LiteRuntime:
    """The bundle's LiteRT export (float, or dynamic-range quantized when ``quantized``); a
    bundle written before the exports existed has its SavedModel converted in memory (float
    only)."""

    def __init__(self, bundle: Bundle, quantized: bool = False) -> None:
        self.name = "litert_quantized" if quantized else "litert"
        file = bundle.path / (export.LITERT_QUANTIZED_FILE if quantized else export.LITERT_FILE)
        if file.is_file():
            blob = file.read_bytes()
        elif quantized:
            raise ValueError(_missing(bundle, file))
        else:
            blob = export.litert_bytes(bundle.saved_model_dir, quantize=False)
        self._model = export.LiteModel(blob, _kinds(bundle))

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._model.predict(features)


class OnnxRuntime:
    """The bundle's ONNX export run by ONNX Runtime (raw strings in: the lookups are in the
    graph)."""

    name = "onnx"

    def __init__(self, bundle: Bundle) -> None:
        file = bundle.path / export.ONNX_FILE
        if not file.is_file():
            raise ValueError(_missing(bundle, file))
        self._model = export.OnnxModel(file, _kinds(bundle))

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._model.predict(features)


def _missing(bundle: Bundle, file: Path) -> str:
    return (
        f"{file}: this bundle has no {file.name} (it was trained before the exports existed); "
        f"retrain it, or choose another runtime ({', '.join(r for r in RUNTIMES if r != 'auto')})"
    )


class AutoRuntime:
    """LiteRT for requests up to :data:`SMALL_BATCH` rows (on its built-in kernels, whose
    numerics do not depend on the CPU, :mod:`tabstudy.numerics`; with its default delegate under
    ``TABSTUDY_NUMERICS=native``), the SavedModel for larger batches."""

    name = "auto"

    def __init__(self, bundle: Bundle) -> None:
        self.small: Runtime = LiteRuntime(bundle)
        self.limit = SMALL_BATCH
        self.large = SavedModelRuntime(bundle)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = len(next(iter(features.values())))
        return (self.small if rows <= self.limit else self.large).predict(features)

    def check(self, features: Mapping[str, np.ndarray]) -> float:
        """The largest difference of the two runtimes on ``features``; ValueError above
        :data:`AGREEMENT`."""
        gap = float(np.max(np.abs(self.small.predict(features) - self.large.predict(features))))
        if gap > AGREEMENT:
            raise ValueError(
                f"{self.small.name} and saved_model disagree by {gap:.2e} (> {AGREEMENT:g})"
            )
        return gap


def load_runtime(name: str, bundle: Bundle) -> Runtime:
    """The runtime called ``name`` over ``bundle``."""
    if name == "auto":
        return AutoRuntime(bundle)
    if name in ("litert", "litert_quantized"):
        return LiteRuntime(bundle, quantized=name == "litert_quantized")
    if name == "onnx":
        return OnnxRuntime(bundle)
    if name == "saved_model":
        return SavedModelRuntime(bundle)
    if name == "keras":
        return KerasRuntime(bundle)
    raise ValueError(f"unknown runtime {name!r}; use one of {list(RUNTIMES)}")
