"""Two Keras 3 patches that make ``fit`` work under ``MultiWorkerMirroredStrategy`` (private
API: ``tests/test_keras_guards.py`` guards it)."""

from __future__ import annotations

import types
from typing import Any

import keras


def keras_multi_worker_fixes(model: keras.Model, strategy: Any) -> None:
    """Patch two Keras 3 bugs that make ``fit`` fail under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20329, #20585; still in Keras 3.15), on this model instance only.

    1. ``_maybe_symbolic_build`` passes a whole batch (a structure of ``PerReplica`` values) to
       ``strategy.reduce``, which takes one value: "Attempt to convert a value ({...:
       PerReplica...}) with an unsupported type (<class 'dict'>)". The build needs only shapes
       and dtypes, so the patched one builds from the local value of each leaf.
    2. Each step's logs (scalar metric results) are reduced with ``strategy.reduce("MEAN", v,
       axis=0)``: "Invalid reduction dimension 0 for input with 0 dimensions". The patched
       train/test steps return them as shape ``(1,)``, which that reduction averages over the
       workers. (Epoch logs do not come from these: Keras reads the metrics in cross-replica
       context, which all-reduces their states, so they are the global values.)

    Private Keras API: tests/test_keras_guards.py (fast) and the multi-worker test fail loudly if
    an upgrade changes it.
    """
    import tensorflow as tf

    def local(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = next(it)
                break
        with strategy.scope():
            self._symbolic_build(data_batch=keras.tree.map_structure(local, data_batch))

    def rank_one(step: Any) -> Any:
        return lambda data: keras.tree.map_structure(lambda v: tf.reshape(v, [1]), step(data))

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    model.train_step = rank_one(model.train_step)
    model.test_step = rank_one(model.test_step)
