"""Fast guards for the private Keras APIs the project patches or reads.

Keras is pinned in requirements.in because of these. An upgrade that renames or changes one
fails here, in the fast tests, with the name of the API, instead of deep inside a slow
multi-worker run or as a dvc.lock that no longer reproduces:

- ``keras.src.export.saved_model_export_archive._list_variables_used_by_fns``, wrapped by
  ``bundle._sorted_export_variables`` (byte-stable SavedModels);
- ``Layer._inbound_nodes`` and ``KerasTensor._keras_history``, read by ``export.numeric_order``
  (the ONNX/LiteRT numeric input order);
- the TensorFlow trainer's ``_maybe_symbolic_build`` / ``_symbolic_build``, replaced per model by
  ``distributed.keras_fixes.keras_multi_worker_fixes`` (``fit`` under
  ``MultiWorkerMirroredStrategy``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tabstudy.models import bundle, export
from tabstudy.models import keras_model as km
from tabstudy.spec import LABEL, Feature, FeatureSet

SPEC = FeatureSet(
    (
        Feature("carrier", "categorical", "t", "row", ""),
        Feature("z", "numeric", "t", "row", ""),  # the spec's order is not the name order
        Feature("b", "numeric", "t", "row", ""),
        Feature("a", "numeric", "t", "row", ""),
    ),
    ("carrier",),
    "synthetic",
    "synthetic",
    None,
    "t",
)


def test_keras_is_pinned_where_the_patches_are_documented() -> None:
    """The pin is explicit in requirements.in and the lock resolves the same version."""
    root = Path(__file__).resolve().parents[1]
    pins = [
        line.split("#")[0].strip()
        for line in (root / "requirements.in").read_text().splitlines()
        if line.startswith("keras==")
    ]
    assert pins == [f"keras=={keras.__version__}"]
    assert f"keras=={keras.__version__} " in (root / "requirements.lock").read_text()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 200
    out = pd.DataFrame(
        {
            "carrier": rng.choice(["A", "B"], n).astype(object),
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    out[LABEL] = (out["z"] > 0).astype("int8")
    return out


def _core(frame: pd.DataFrame, pre: keras.Model) -> keras.Model:
    return km.build_core(
        km.vocab_sizes(pre),
        km.numeric_width(pre),
        km.Hyperparameters(units=8, layers=1, learning_rate=0.01),
        float(frame[LABEL].mean()),
    )


def test_sorted_export_variables_wraps_the_private_lister(frame) -> None:
    """The function exists with one argument; inside the context it lists variables sorted by
    name; after it, the original is back."""
    from keras.src.export import saved_model_export_archive as archive

    original = archive._list_variables_used_by_fns
    assert list(inspect.signature(original).parameters) == ["fns"]
    pre = km.build_preprocessor(frame, SPEC)
    model = km.export_model(pre, _core(frame, pre))
    fn = tf.function(lambda x: model(x)).get_concrete_function(
        {
            n: tf.TensorSpec([None, 1], tf.string if n == "carrier" else tf.float32, name=n)
            for n in ("carrier", "a", "b", "z")
        }
    )
    raw_trainable, _ = original([fn])
    assert raw_trainable, "the private lister found no variables: its contract changed"
    with bundle._sorted_export_variables():
        assert archive._list_variables_used_by_fns is not original
        trainable, non_trainable = archive._list_variables_used_by_fns([fn])
    assert archive._list_variables_used_by_fns is original
    names = [v.name for v in trainable]
    assert names == sorted(names)
    assert {id(v) for v in trainable} == {id(v) for v in raw_trainable}
    assert all(isinstance(v, tf.Variable) for v in non_trainable)


def test_numeric_order_reads_the_imputation_call(frame) -> None:
    """``_inbound_nodes[0].input_tensors`` gives the spec's order, not the inputs' name order."""
    pre = km.build_preprocessor(frame, SPEC)
    impute = pre.get_layer("impute_normalize")
    assert hasattr(impute, "_inbound_nodes") and impute._inbound_nodes
    assert export.numeric_order(impute) == ["z", "b", "a"]
    assert km.input_columns(pre)[1] != ["z", "b", "a"]


def test_multi_worker_fixes_build_from_per_replica_batches(frame) -> None:
    """The trainer still has the two hooks with the signature the patch replaces; the patched
    model builds from a batch of ``PerReplica`` leaves (which Keras' own hook hands to
    ``strategy.reduce``) and its steps return rank-1 logs."""
    from tensorflow.python.distribute.values import PerReplica

    from tabstudy.models.distributed.keras_fixes import keras_multi_worker_fixes

    trainer = keras.Model._maybe_symbolic_build
    assert "strategy" not in trainer.__qualname__  # Keras' own, not a leftover patch
    for hook in (keras.Model._maybe_symbolic_build, keras.Model._symbolic_build):
        assert list(inspect.signature(hook).parameters) == ["self", "iterator", "data_batch"]

    pre = km.build_preprocessor(frame, SPEC)
    x, y = km.encode(pre, frame), km.labels(frame)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        core = _core(frame, pre)
    keras_multi_worker_fixes(core, strategy)
    assert keras.Model._maybe_symbolic_build is trainer  # patched on the instance only

    def per_replica(v: np.ndarray) -> PerReplica:
        return PerReplica((tf.constant(v[:32]),))

    batch = (keras.tree.map_structure(per_replica, x), per_replica(y))
    assert not core.built or not core.optimizer.built
    core._maybe_symbolic_build(data_batch=batch)
    assert core.optimizer.built and all(layer.built for layer in core._flatten_layers())

    step = (keras.tree.map_structure(lambda v: tf.constant(v[:32]), x), tf.constant(y[:32]))
    logs = strategy.run(core.train_step, args=(step,))
    shapes = {k: tuple(strategy.experimental_local_results(v)[0].shape) for k, v in logs.items()}
    assert shapes and set(shapes.values()) == {(1,)}
