"""The Keras model: preprocessing learned from the training split, a core MLP, and the exported
model that takes raw features.

Two parts, joined for export:

* the *preprocessor* (``StringLookup`` per categorical feature with an out-of-vocabulary bucket;
  :class:`ImputeNormalize` for numerics: missing values imputed with the training mean, scaled,
  plus a missing indicator), built from the training split only;
* the *core* network over the encoded inputs (embeddings, dense layers, a sigmoid output whose
  bias starts at the training log-odds, so class imbalance is handled without distorting
  calibration).

Training encodes each split once and feeds NumPy arrays to ``fit``; the exported model is
``core(preprocessor(raw))`` and so serves raw features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pandas as pd

from tabstudy.spec import LABEL, FeatureSet

NUMERIC_INPUT = "numeric"
MIN_CATEGORY_COUNT = 5


@keras.saving.register_keras_serializable(package="tabstudy")
class ImputeNormalize(keras.layers.Layer):
    """Concatenate numeric inputs; impute NaN with the mean, standardise, add missing flags."""

    def __init__(self, mean: list[float], std: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def call(self, inputs: list[Any]) -> Any:
        x = keras.ops.concatenate([keras.ops.cast(t, "float32") for t in inputs], axis=-1)
        missing = keras.ops.isnan(x)
        mean = keras.ops.convert_to_tensor(self.mean, dtype="float32")
        std = keras.ops.convert_to_tensor(self.std, dtype="float32")
        z = (keras.ops.where(missing, mean, x) - mean) / std
        return keras.ops.concatenate([z, keras.ops.cast(missing, "float32")], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class Hyperparameters:
    """What the core network is built from (the tuner's search space picks these)."""

    units: int = 128
    layers: int = 2
    dropout: float = 0.1
    learning_rate: float = 1e-3
    embedding_dim: int = 8
    batch_size: int = 1024

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Hyperparameters:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


def vocabulary(values: pd.Series, min_count: int = MIN_CATEGORY_COUNT) -> list[str]:
    """Categories seen at least ``min_count`` times, most frequent first, ties by name."""
    counts = values.astype(str).value_counts()
    counts = counts[counts >= min_count]
    return sorted(counts.index.tolist(), key=lambda v: (-int(counts[v]), v))


def raw_inputs(categorical: list[str], numeric: list[str]) -> dict[str, keras.KerasTensor]:
    """One Keras input per raw feature: strings for categoricals, float32 for numerics."""
    cats = {n: keras.Input(shape=(1,), dtype="string", name=n) for n in categorical}
    nums = {n: keras.Input(shape=(1,), dtype="float32", name=n) for n in numeric}
    return {**cats, **nums}


def input_columns(model: keras.Model) -> tuple[list[str], list[str]]:
    """The categorical (string) and numeric raw inputs a preprocessor or exported model takes."""
    tensors = model.inputs
    cats = [t.name for t in tensors if t.dtype == "string"]
    nums = [t.name for t in tensors if t.dtype != "string"]
    return cats, nums


def build_preprocessor(train: pd.DataFrame, spec: FeatureSet) -> keras.Model:
    """Learn vocabularies and numeric statistics from ``train``; map raw inputs to encoded ones."""
    inputs = raw_inputs(spec.categorical(), spec.numeric())
    encoded: dict[str, Any] = {}
    for name in spec.categorical():
        lookup = keras.layers.StringLookup(
            vocabulary=vocabulary(train[name]), num_oov_indices=1, name=f"lookup_{name}"
        )
        encoded[name] = lookup(inputs[name])
    if spec.numeric():
        nums = train[spec.numeric()].astype("float64")
        std = nums.std().fillna(1.0).replace(0.0, 1.0)
        mean = nums.mean().fillna(0.0)
        layer = ImputeNormalize(mean.tolist(), std.tolist(), name="impute_normalize")
        encoded[NUMERIC_INPUT] = layer([inputs[n] for n in spec.numeric()])
    return keras.Model(inputs, encoded, name="preprocessor")


def vocab_sizes(preprocessor: keras.Model) -> dict[str, int]:
    """Number of indices (vocabulary + OOV) of each categorical lookup."""
    cats, _ = input_columns(preprocessor)
    return {n: preprocessor.get_layer(f"lookup_{n}").vocabulary_size() for n in cats}


def raw_arrays(frame: pd.DataFrame, model: keras.Model) -> dict[str, np.ndarray]:
    """A frame's features as the (n, 1) arrays the raw inputs of ``model`` take."""
    cats, nums = input_columns(model)
    out = {n: frame[n].astype(str).to_numpy(dtype=object).reshape(-1, 1) for n in cats}
    out.update({n: frame[n].to_numpy(dtype="float32").reshape(-1, 1) for n in nums})
    return out


def raw_dataset(frame: pd.DataFrame, model: keras.Model, batch_size: int) -> Any:
    """A batched ``tf.data.Dataset`` of a frame's raw features (string tensors need tf.data)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(raw_arrays(frame, model)).batch(batch_size)


def encode(
    preprocessor: keras.Model, frame: pd.DataFrame, batch_size: int = 65536
) -> dict[str, np.ndarray]:
    """Run the preprocessor once over a whole frame (vectorised, in large batches)."""
    return preprocessor.predict(raw_dataset(frame, preprocessor, batch_size), verbose=0)


def parquet_arrays(path: Any, model: keras.Model) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The raw inputs of ``model`` and the labels: only those columns are read from the Parquet
    file (columnar, no per-row Python)."""
    cats, nums = input_columns(model)
    frame = pd.read_parquet(path, columns=[*cats, *nums, LABEL])
    return raw_arrays(frame, model), labels(frame)


@dataclass(frozen=True)
class Encoded:
    """A split's encoded features and labels, held in memory as tensors (the cache)."""

    features: dict[str, Any]
    labels: Any

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def encoded_examples(path: Any, preprocessor: keras.Model, chunk: int = 65536) -> Encoded:
    """Encode a Parquet split once through ``tf.data`` and keep the result in memory.

    The preprocessor (string lookups, imputation, scaling) runs vectorised over large chunks
    inside a ``tf.data`` map; the encoded chunks are concatenated into tensors, so every epoch
    afterwards only shuffles and gathers batches (:func:`batches`), never re-encodes.
    """
    x, y = parquet_arrays(path, preprocessor)
    return _encoded(x, y, preprocessor, chunk)


def encoded_frame(frame: pd.DataFrame, preprocessor: keras.Model, chunk: int = 65536) -> Encoded:
    """:func:`encoded_examples` of rows already in memory (features and :data:`LABEL`)."""
    return _encoded(raw_arrays(frame, preprocessor), labels(frame), preprocessor, chunk)


def _encoded(
    x: dict[str, np.ndarray], y: np.ndarray, preprocessor: keras.Model, chunk: int
) -> Encoded:
    """Run the preprocessor over raw arrays in chunks inside ``tf.data``; keep the tensors."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(chunk)
    ds = ds.map(lambda f, t: (preprocessor(f), t), num_parallel_calls=tf.data.AUTOTUNE)
    parts = list(ds.cache())
    names = parts[0][0].keys()
    features = {n: tf.concat([p[0][n] for p in parts], axis=0) for n in names}
    return Encoded(features, tf.concat([p[1] for p in parts], axis=0))


def batches(examples: Encoded, batch_size: int, seed: int | None = None) -> Any:
    """A ``tf.data`` pipeline of batches gathered from the in-memory encoded split.

    Row indices are shuffled (when ``seed`` is given: seeded, reshuffled every epoch) and
    batched; each batch is one vectorised ``tf.gather`` per input; batches are prefetched.
    """
    import tensorflow as tf

    index = tf.data.Dataset.range(len(examples))
    if seed is not None:
        index = index.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    feats, labels = examples.features, examples.labels

    def gather(i: Any) -> Any:
        return {n: tf.gather(v, i) for n, v in feats.items()}, tf.gather(labels, i)

    batched = index.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return batched.prefetch(tf.data.AUTOTUNE)


def fit_examples(
    model: keras.Model,
    train: Encoded,
    valid: Encoded | None,
    batch_size: int,
    seed: int,
    **kwargs: Any,
) -> Any:
    """``model.fit`` on encoded splits: training batches shuffled with ``seed`` by the pipeline
    (so Keras's own ``shuffle`` is off), validation batches in order."""
    val = batches(valid, batch_size) if valid is not None else None
    return model.fit(batches(train, batch_size, seed), validation_data=val, shuffle=False, **kwargs)


def class_weights(y: np.ndarray, rule: str) -> tuple[float, float] | None:
    """Loss weights of class 0 and class 1: ``"balanced"`` gives each class half the total
    weight (scikit-learn's ``n / (2 n_class)``); ``"none"`` (or a single class) gives None."""
    if rule == "none":
        return None
    if rule != "balanced":
        raise ValueError(f"train.class_weight must be 'none' or 'balanced', got {rule!r}")
    y = np.asarray(y)
    n, pos = len(y), int((y == 1).sum())
    if pos in (0, n):
        return None
    return (n / (2 * (n - pos)), n / (2 * pos))


def keras_class_weight(weights: Sequence[float] | None) -> dict[int, float] | None:
    """``weights`` as Keras' ``class_weight`` argument."""
    return None if weights is None else {0: float(weights[0]), 1: float(weights[1])}


def undo_class_weight(core: keras.Model, weights: Sequence[float] | None) -> float:
    """Shift the output logit by ``-log(w1 / w0)`` so a core trained with class ``weights``
    estimates the real positive rate again (weighting the loss multiplies the fitted odds by
    ``w1 / w0``; this is the prior correction). Return the shift (0 without weights)."""
    if weights is None:
        return 0.0
    shift = -float(np.log(weights[1] / weights[0]))
    bias = core.get_layer("p_positive").bias
    bias.assign(bias.numpy() + np.float32(shift))
    return shift


def numeric_width(preprocessor: keras.Model) -> int:
    """Width of the encoded numeric block: a value and a missing flag per numeric feature."""
    return 2 * len(input_columns(preprocessor)[1])


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame[LABEL].to_numpy(dtype="float32")


def build_core(
    sizes: Mapping[str, int], n_numeric: int, hp: Hyperparameters, positive_rate: float
) -> keras.Model:
    """The trainable network over encoded inputs, compiled with Adam and AUC metrics."""
    cat_inputs = {n: keras.Input(shape=(1,), dtype="int64", name=n) for n in sizes}
    inputs: dict[str, Any] = dict(cat_inputs)
    parts = [
        keras.layers.Flatten()(keras.layers.Embedding(size, hp.embedding_dim, name=f"emb_{n}")(t))
        for n, (size, t) in ((n, (sizes[n], cat_inputs[n])) for n in sizes)
    ]
    if n_numeric:
        inputs[NUMERIC_INPUT] = keras.Input(shape=(n_numeric,), dtype="float32", name=NUMERIC_INPUT)
        parts.append(inputs[NUMERIC_INPUT])
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for i in range(hp.layers):
        x = keras.layers.Dense(hp.units, activation="relu", name=f"dense_{i}")(x)
        x = keras.layers.Dropout(hp.dropout, name=f"dropout_{i}")(x)
    p = float(np.clip(positive_rate, 1e-4, 1 - 1e-4))
    out = keras.layers.Dense(
        1,
        activation="sigmoid",
        name="p_positive",
        bias_initializer=keras.initializers.Constant(np.log(p / (1 - p))),
    )(x)
    model = keras.Model(inputs, out, name="core")
    return compile_model(model, hp.learning_rate)


STEPS_PER_EXECUTION = 16


@keras.saving.register_keras_serializable(package="tabstudy")
class PortableBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of a sigmoid output whose gradient uses no approximate op.

    Keras' own loss computes ``relu(x) - x*y + log1p(exp(-|x|))`` from the logits ``x`` and
    differentiates ``log1p`` through TensorFlow's ``Reciprocal`` kernel (``rcpps`` plus a Newton
    step), whose bits differ between Intel and AMD CPUs. Here the last term is
    ``softplus(-|x|)``, the same value, whose gradient kernel divides exactly; so a model trains
    to the same bits on any x86-64 CPU (:mod:`tabstudy.numerics`). No ``tf.custom_gradient``:
    those register a gradient per trace and keep every traced graph alive (a tuner's trials
    would leak). Without logits (an output that is not Keras' sigmoid) the value is computed
    from the clipped probability and its gradient ``(p - y) / (p (1 - p))`` by division.
    """

    def __init__(self, name: str = "binary_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        import tensorflow as tf

        logits = getattr(y_pred, "_keras_logits", None)  # set by Keras' TF sigmoid
        shape_of = y_pred if logits is None else logits
        labels = tf.reshape(tf.cast(y_true, shape_of.dtype), tf.shape(shape_of))  # (n,) or (n, 1)
        if logits is not None:
            per_output = (tf.nn.relu(logits) - logits * labels
                          + tf.math.softplus(-tf.math.abs(logits)))  # fmt: skip
        else:
            eps = keras.config.epsilon()
            p = tf.clip_by_value(y_pred, eps, 1.0 - eps)
            value = -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log1p(-p))
            slope = (p - labels) / (p * (1.0 - p))
            per_output = tf.stop_gradient(value) + (p - tf.stop_gradient(p)) * tf.stop_gradient(
                slope
            )
        return tf.reduce_mean(per_output, axis=-1)


def compile_model(
    model: keras.Model, learning_rate: float, steps_per_execution: int = STEPS_PER_EXECUTION
) -> keras.Model:
    """Adam, binary cross-entropy (:class:`PortableBinaryCrossentropy`), ROC and PR AUC;
    ``steps_per_execution`` training steps per
    compiled call (fewer Python round trips per epoch; the arithmetic is the same)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=PortableBinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.AUC(curve="PR", name="pr_auc")],
        steps_per_execution=steps_per_execution,
    )
    return model


def export_model(preprocessor: keras.Model, core: keras.Model) -> keras.Model:
    """The servable model: raw features in, probability of the positive class out."""
    inputs = raw_inputs(*input_columns(preprocessor))
    out = core(preprocessor(inputs))
    return keras.Model(inputs, out, name="tabstudy_model")


def predict(model: keras.Model, frame: pd.DataFrame, batch_size: int = 65536) -> np.ndarray:
    """Probabilities from the exported (raw-feature) model."""
    return model.predict(raw_dataset(frame, model, batch_size), verbose=0).reshape(-1)


def training_callbacks(patience: int) -> list[keras.callbacks.Callback]:
    """Early stopping on validation loss (best weights restored) and LR reduction on plateau."""
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, patience // 2)
        ),
    ]


def set_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def weights_digest(model: keras.Model) -> str:
    """SHA-256 over every weight array of ``model`` (equal digests = identical weights)."""
    import hashlib

    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def history_table(history: Mapping[str, list[float]]) -> pd.DataFrame:
    """Per-epoch metrics as a table with a 1-based ``epoch`` column."""
    table = pd.DataFrame({k: [float(v) for v in vals] for k, vals in history.items()})
    table.insert(0, "epoch", range(1, len(table) + 1))
    return table


def training_summary(history: pd.DataFrame) -> dict[str, Any]:
    """Epochs run and the epoch with the best validation loss (the weights kept)."""
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    return {
        "epochs_run": len(history),
        "best_epoch": best,
        "best_val_loss": float(history["val_loss"].min()),
    }


def plot_history(history: pd.DataFrame) -> Any:
    """Loss and ROC AUC per epoch, training against validation."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("loss", "auc"), strict=True):
        ax.plot(history["epoch"], history[metric], marker="o", label="train")
        ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="valid")
        ax.set(title=metric, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    return fig
