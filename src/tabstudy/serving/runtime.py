"""Model runtimes for the service: raw features in, probabilities out.

- ``litert``: the bundle's SavedModel converted to LiteRT in memory at start-up (about 1 s), one
  interpreter per thread (an interpreter is not thread-safe); ~0.09 ms for one row here.
- ``saved_model``: the SavedModel ``serve`` signature called directly; ~1.2 ms for one row but
  the fastest for large batches (~2.4 µs a row at 10,000 rows against ~7.8 µs for LiteRT).
- ``auto`` (default): LiteRT up to :data:`SMALL_BATCH` rows, the SavedModel above.
- ``keras``: the Keras model called directly (``model(x)``), kept as an option.

``model.predict`` is never used (89 ms per call, STACK-NOTES). Every runtime reproduces the
offline probabilities within 1e-6 (the skew test); ``auto`` checks at start-up that its two
runtimes agree on the warm-up rows.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from tabstudy.models.bundle import Bundle

RUNTIMES: tuple[str, ...] = ("auto", "litert", "saved_model", "keras")
SMALL_BATCH = 1
"""Rows up to which ``auto`` uses LiteRT (its latency matters for single rows; big batches are
faster through the SavedModel)."""
AGREEMENT = 1e-6


class Runtime(Protocol):
    """Something that turns raw feature arrays into probabilities."""

    name: str

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probabilities (float64, one per row)."""
        ...


def _kinds(bundle: Bundle) -> dict[str, str]:
    return {f.name: f.kind for f in bundle.spec.features}


def _arrays(
    features: Mapping[str, np.ndarray], kinds: Mapping[str, str], text: type
) -> dict[str, np.ndarray]:
    """The model's raw inputs as (n, 1) arrays: categoricals as ``text`` (``str`` for
    TensorFlow, ``bytes`` for LiteRT), numerics as float32."""
    out = {}
    for name, kind in kinds.items():
        column = np.asarray(features[name]).reshape(-1, 1)
        out[name] = column.astype(text) if kind == "categorical" else column.astype("float32")
    return out


def _tensors(features: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> dict[str, Any]:
    import tensorflow as tf

    return {name: tf.constant(a) for name, a in _arrays(features, kinds, str).items()}


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
    """The SavedModel converted to LiteRT (float, no quantization), one interpreter per thread
    (an interpreter is not thread-safe). A fresh interpreter fails at its default 1-row shape
    (a RESHAPE node: "16 != 256" here) until it has been resized once, so each is primed with
    a 2-row call; after that any batch size works."""

    name = "litert"

    def __init__(self, bundle: Bundle) -> None:
        import tensorflow as tf

        self._blob = tf.lite.TFLiteConverter.from_saved_model(str(bundle.saved_model_dir)).convert()
        self._kinds = _kinds(bundle)
        self._local = threading.local()

    def _runner(self) -> Any:
        runner = getattr(self._local, "runner", None)
        if runner is None:
            import tensorflow as tf

            with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(model_content=self._blob)
            runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
            primer = {n: np.zeros(2) for n in self._kinds}  # see the class docstring
            runner(**_arrays(primer, self._kinds, bytes))
            self._local.runner = runner
        return runner

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        (value,) = self._runner()(**_arrays(features, self._kinds, bytes)).values()
        return np.asarray(value).reshape(-1).astype("float64")


class AutoRuntime:
    """LiteRT for small requests, the SavedModel for large batches (the fastest of each)."""

    name = "auto"

    def __init__(self, bundle: Bundle) -> None:
        self.small, self.large = LiteRuntime(bundle), SavedModelRuntime(bundle)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = len(next(iter(features.values())))
        return (self.small if rows <= SMALL_BATCH else self.large).predict(features)

    def check(self, features: Mapping[str, np.ndarray]) -> float:
        """The largest difference of the two runtimes on ``features``; ValueError above
        :data:`AGREEMENT`."""
        gap = float(np.max(np.abs(self.small.predict(features) - self.large.predict(features))))
        if gap > AGREEMENT:
            raise ValueError(f"LiteRT and SavedModel disagree by {gap:.2e} (> {AGREEMENT:g})")
        return gap


def load_runtime(name: str, bundle: Bundle) -> Runtime:
    """The runtime called ``name`` over ``bundle``."""
    if name == "auto":
        return AutoRuntime(bundle)
    if name == "litert":
        return LiteRuntime(bundle)
    if name == "saved_model":
        return SavedModelRuntime(bundle)
    if name == "keras":
        return KerasRuntime(bundle)
    raise ValueError(f"unknown runtime {name!r}; use one of {list(RUNTIMES)}")
