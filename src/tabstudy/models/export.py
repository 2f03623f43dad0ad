"""Exports of the raw-feature Keras model beside its SavedModel, each checked when written.

Three files join the bundle (:func:`write_exports`, called by ``bundle.write_bundle``):

* ``model.onnx``: the whole model for ONNX Runtime, raw features in. tf2onnx (and
  ``keras.Model.export(format="onnx")``) stop at the ``StringLookup`` tables
  (``LookupTableFindV2``), so the numeric part (imputation, scaling, embeddings, dense layers) is
  converted by tf2onnx and each lookup becomes an ONNX-ML ``LabelEncoder`` node in front of it,
  built from the same vocabulary (index 0 for unknown strings, as ``StringLookup`` does). One
  file, the same inputs as the SavedModel: nothing outside the model maps strings.
* ``model.tflite``: LiteRT, float (no quantization).
* ``model_dynamic_range.tflite``: LiteRT with dynamic-range quantization (int8 weights, float
  activations): smaller, not exact.

Each export is run on held-out rows and compared with the Keras model
(:func:`check_export`): a float export whose largest probability difference exceeds
``export.max_abs_diff``, or a quantized one whose ROC AUC drops by more than
``export.quantized_max_auc_drop``, raises :class:`ExportError` with the numbers, so the train
stage fails and no bundle is written. ``exports.json`` records every check, its differences at
:data:`RESOLUTION` (rounded up; AUCs rounded): ONNX Runtime picks its kernels by the CPU's
instruction set and has no switch to pin them (:mod:`tabstudy.numerics`), so its last bits, and
only those, differ between CPUs; the recorded check must not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tabstudy import numerics

ONNX_FILE = "model.onnx"
LITERT_FILE = "model.tflite"
LITERT_QUANTIZED_FILE = "model_dynamic_range.tflite"
REPORT_FILE = "exports.json"
ONNX_OPSET = 17
ONNX_ML_OPSET = 2  # LabelEncoder with keys_strings / values_int64s
FORMATS: dict[str, str] = {
    "onnx": ONNX_FILE,
    "litert": LITERT_FILE,
    "litert_quantized": LITERT_QUANTIZED_FILE,
}
"""Export name -> file in the bundle."""
QUANTIZED: frozenset[str] = frozenset({"litert_quantized"})


class ExportError(ValueError):
    """An export disagrees with the Keras model beyond its tolerance."""


@dataclass(frozen=True)
class ExportCheck:
    """Held-out rows (raw features and labels) and the tolerances the exports are checked
    with when the bundle is written."""

    features: dict[str, np.ndarray]
    labels: np.ndarray | None
    max_abs_diff: float
    max_auc_drop: float

    @classmethod
    def from_frame(cls, frame: Any, kinds: Mapping[str, str], cfg: Any) -> ExportCheck:
        """``cfg.check_rows`` rows of ``frame`` spread evenly over it (all rows if fewer), with
        ``cfg.max_abs_diff`` and ``cfg.quantized_max_auc_drop`` (an ``ExportConfig``)."""
        from tabstudy.spec import LABEL

        picked = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, cfg.check_rows).astype(int))]
        labels = picked[LABEL].to_numpy() if LABEL in picked.columns else None
        features = {n: picked[n].to_numpy() for n in kinds}
        return cls(features, labels, cfg.max_abs_diff, cfg.quantized_max_auc_drop)


@dataclass(frozen=True)
class Check:
    """How one export compares with the Keras model on the check rows."""

    export: str
    file: str
    bytes: int
    rows: int
    max_abs_diff: float
    roc_auc: float | None
    keras_roc_auc: float | None
    delta_roc_auc: float | None
    tolerance: str
    passed: bool


def vocabularies(model: Any) -> dict[str, list[str]]:
    """Each categorical input's ``StringLookup`` vocabulary, index 0 (unknown) first."""
    from tabstudy.models.keras_model import input_columns

    pre = model.get_layer("preprocessor")
    cats, _ = input_columns(model)
    return {n: [str(v) for v in pre.get_layer(f"lookup_{n}").get_vocabulary()] for n in cats}


def numeric_model(model: Any) -> Any:
    """The raw-feature model without its string lookups: categorical inputs are lookup indices
    (int64), numeric inputs are the raw values."""
    import keras

    from tabstudy.models.keras_model import NUMERIC_INPUT, input_columns

    pre, core = model.get_layer("preprocessor"), model.get_layer("core")
    cats, nums = input_columns(model)
    ids = {n: keras.Input(shape=(1,), dtype="int64", name=n) for n in cats}
    raw = {n: keras.Input(shape=(1,), dtype="float32", name=n) for n in nums}
    encoded: dict[str, Any] = dict(ids)
    if nums:
        impute = pre.get_layer("impute_normalize")
        encoded[NUMERIC_INPUT] = impute([raw[n] for n in numeric_order(impute)])
    return keras.Model({**ids, **raw}, core(encoded), name="numeric_model")


def numeric_order(impute: Any) -> list[str]:
    """The raw numeric inputs in the order the imputation layer concatenates them (the feature
    spec's order; the model's own inputs are sorted by name, which is not the same)."""
    node = impute._inbound_nodes[0]  # private Keras 3 API (tests/test_keras_guards.py)
    return [t._keras_history.operation.name for t in node.input_tensors]


def _lookup_nodes(proto: Any, vocab: Mapping[str, list[str]]) -> None:
    """Put a ``LabelEncoder`` (string -> index, unknown -> 0) in front of each categorical
    input of ``proto``, so the graph takes the raw strings."""
    from onnx import TensorProto, helper

    graph = proto.graph
    inputs, lookups = [], []
    for value in graph.input:
        if value.name not in vocab:
            inputs.append(value)
            continue
        index = f"{value.name}__index"
        for node in graph.node:
            node.input[:] = [index if x == value.name else x for x in node.input]
        words = vocab[value.name]
        lookups.append(
            helper.make_node(
                "LabelEncoder",
                [value.name],
                [index],
                name=f"lookup_{value.name}",
                domain="ai.onnx.ml",
                keys_strings=words[1:],
                values_int64s=list(range(1, len(words))),
                default_int64=0,
            )
        )
        inputs.append(helper.make_tensor_value_info(value.name, TensorProto.STRING, [None, 1]))
    graph.ClearField("input")
    graph.input.extend(inputs)
    nodes = [*lookups, *graph.node]
    graph.ClearField("node")
    graph.node.extend(nodes)
    opsets = [o for o in proto.opset_import if o.domain != "ai.onnx.ml"]
    proto.ClearField("opset_import")
    proto.opset_import.extend([*opsets, helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET)])


def onnx_bytes(model: Any) -> bytes:
    """The raw-feature model as an ONNX graph (see the module docstring)."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    from tabstudy.models.keras_model import input_columns

    cats, nums = input_columns(model)
    numeric = numeric_model(model)
    names = [*cats, *nums]
    signature = [tf.TensorSpec((None, 1), tf.int64, name=n) for n in cats] + [
        tf.TensorSpec((None, 1), tf.float32, name=n) for n in nums
    ]

    @tf.function(input_signature=signature)
    def call(*args: Any) -> Any:
        return numeric(dict(zip(names, args, strict=True)))

    proto, _ = tf2onnx.convert.from_function(call, input_signature=signature, opset=ONNX_OPSET)
    _lookup_nodes(proto, vocabularies(model))
    proto.graph.output[0].name = _rename_output(proto, "probability")
    canonical_graph(proto.graph)
    onnx.checker.check_model(proto)
    return proto.SerializeToString(deterministic=True)


def _structural_keys(graph: Any) -> dict[str, str]:
    """A digest of every tensor's computation (Merkle style): graph inputs by name, initializers
    by content, node outputs by op, attributes, input digests and output position; names that
    tf2onnx numbers from a process-wide counter do not enter."""
    import hashlib

    keys = {i.name: "input:" + i.name for i in graph.input}
    for init in graph.initializer:
        unnamed = type(init)()
        unnamed.CopyFrom(init)
        unnamed.ClearField("name")
        content = unnamed.SerializeToString(deterministic=True)
        keys[init.name] = "init:" + hashlib.sha256(content).hexdigest()
    producers = {out: node for node in graph.node for out in node.output}

    def key(tensor: str) -> str:
        if tensor not in keys:
            if tensor == "":  # an omitted optional input
                return ""
            node = producers[tensor]
            attrs = sorted(a.SerializeToString(deterministic=True) for a in node.attribute)
            parts = [node.domain, node.op_type, *map(bytes.hex, attrs), *map(key, node.input)]
            digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
            for i, out in enumerate(node.output):
                keys[out] = f"{digest}:{i}"
        return keys[tensor]

    for node in graph.node:
        for out in node.output:
            key(out)
    return keys


def canonical_graph(graph: Any) -> None:
    """Give ``graph`` one byte form per computation: nodes in a topological order broken by
    structural digest, then nodes, intermediate tensors and initializers renamed in that
    order, the batch dimension called ``rows`` (tf2onnx's own names, numbered from a
    process-wide counter, and its node order change from run to run)."""
    keys = _structural_keys(graph)
    node_key = {id(n): min(keys[o] for o in n.output) for n in graph.node}
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(x in available for x in n.input)]
        first = min(ready, key=lambda n: node_key[id(n)])
        ordered.append(first)
        pending.remove(first)
        available.update(first.output)
    keep = {o.name for o in graph.output} | {i.name for i in graph.input}
    weights = {t.name for t in graph.initializer}
    names: dict[str, str] = {}
    for i, node in enumerate(ordered):
        for x in node.input:
            if x in weights and x not in names:
                names[x] = f"w{len(names)}"
        for j, out in enumerate(node.output):
            if out not in keep:
                names[out] = f"t{i}_{j}"
    for i, node in enumerate(ordered):
        if node.domain != "ai.onnx.ml":
            node.name = f"n{i}_{node.op_type}"
        node.input[:] = [names.get(x, x) for x in node.input]
        node.output[:] = [names.get(x, x) for x in node.output]
    initializers = sorted(graph.initializer, key=lambda t: int(names[t.name][1:]))
    for init in initializers:
        init.name = names[init.name]
    for value in (*graph.input, *graph.output):
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = "rows"
    for field in ("node", "initializer", "value_info", "doc_string"):
        graph.ClearField(field)
    graph.node.extend(ordered)
    graph.initializer.extend(initializers)


def _rename_output(proto: Any, name: str) -> str:
    """Rename the graph's single output (tf2onnx calls it ``Identity:0``) to ``name``."""
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [name if x == old else x for x in node.output]
    return name


def litert_bytes(saved_model_dir: Path, quantize: bool) -> bytes:
    """The SavedModel converted to LiteRT; ``quantize``: dynamic-range (int8 weights)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _auc(labels: np.ndarray | None, probs: np.ndarray) -> float | None:
    if labels is None or len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs))


def check_export(
    name: str,
    file: Path,
    probs: np.ndarray,
    keras_probs: np.ndarray,
    labels: np.ndarray | None,
    max_abs_diff: float,
    max_auc_drop: float,
) -> Check:
    """Compare an export's probabilities with the Keras model's on the same rows.

    Float exports must stay within ``max_abs_diff`` of Keras; quantized ones (not exact by
    design) may lose at most ``max_auc_drop`` of ROC AUC (needs both classes in ``labels``).
    """
    diff = float(np.max(np.abs(np.asarray(probs) - np.asarray(keras_probs))))
    auc, keras_auc = _auc(labels, probs), _auc(labels, keras_probs)
    delta = None if auc is None or keras_auc is None else auc - keras_auc
    if name in QUANTIZED:
        tolerance = f"ROC AUC drop <= {max_auc_drop:g}"
        passed = delta is not None and delta >= -max_auc_drop
    else:
        tolerance = f"max |dp| <= {max_abs_diff:g}"
        passed = diff <= max_abs_diff
    return Check(name, file.name, file.stat().st_size, len(probs), _up(diff), _near(auc),
                 _near(keras_auc), _near(delta), tolerance, passed)  # fmt: skip


DIGITS = 6  # the recorded checks' resolution, 1e-6: coarser than any CPU's last bits
RESOLUTION = 10.0**-DIGITS


def _up(value: float) -> float:
    """``value`` rounded up to a multiple of :data:`RESOLUTION` (a bound that stays one)."""
    return float(f"{math.ceil(value / RESOLUTION - 1e-9)}e-{DIGITS}")


def _near(value: float | None) -> float | None:
    """``value`` rounded to :data:`RESOLUTION` (``-0.0`` made ``0.0``)."""
    return None if value is None else round(value, DIGITS) + 0.0


def failure_message(check: Check) -> str:
    """Why a check failed, with its numbers."""
    delta = "n/a" if check.delta_roc_auc is None else f"{check.delta_roc_auc:+.5f}"
    return (
        f"{check.file}: the {check.export} export disagrees with the Keras model on "
        f"{check.rows} held-out rows: max |dp| {check.max_abs_diff:.2e}, ROC AUC change "
        f"{delta} (allowed: {check.tolerance}); the bundle was not written"
    )


def write_exports(
    directory: Path, saved_model_dir: Path, model: Any, check: ExportCheck
) -> list[Check]:
    """Write every export into ``directory`` (a bundle being written), check each against
    ``model`` on the held-out rows of ``check`` with the classes that serve it
    (:class:`OnnxModel`, :class:`LiteModel`), and write ``exports.json``.

    Raises:
        ExportError: the first export beyond its tolerance, with its numbers.
    """
    from tabstudy import artifacts

    kinds = input_kinds(model)
    blobs = {
        "onnx": onnx_bytes(model),
        "litert": litert_bytes(saved_model_dir, quantize=False),
        "litert_quantized": litert_bytes(saved_model_dir, quantize=True),
    }
    keras_probs = keras_probabilities(model, check.features)
    checks = []
    for name, blob in blobs.items():
        path = directory / FORMATS[name]
        path.write_bytes(blob)
        runner = OnnxModel(blob, kinds) if name == "onnx" else LiteModel(blob, kinds)
        result = check_export(
            name, path, runner.predict(check.features), keras_probs, check.labels,
            check.max_abs_diff, check.max_auc_drop,
        )  # fmt: skip
        if not result.passed:
            raise ExportError(failure_message(result))
        checks.append(result)
    report = {"checks": [asdict(c) for c in checks]}
    (directory / REPORT_FILE).write_text(artifacts.json_text(report), encoding="utf-8")
    return checks


def input_kinds(model: Any) -> dict[str, str]:
    """Each raw input of ``model``: ``categorical`` (string) or ``numeric``."""
    from tabstudy.models.keras_model import input_columns

    cats, nums = input_columns(model)
    return {**dict.fromkeys(cats, "categorical"), **dict.fromkeys(nums, "numeric")}


def raw_arrays(
    features: Mapping[str, np.ndarray], kinds: Mapping[str, str], text: type
) -> dict[str, np.ndarray]:
    """A model's raw inputs as (n, 1) arrays: categoricals as ``text`` (``str`` for
    TensorFlow and LiteRT, which writes them as UTF-8; ``object`` for ONNX Runtime), numerics
    as float32."""
    out = {}
    for name, kind in kinds.items():
        column = np.asarray(features[name]).reshape(-1, 1)
        if kind != "categorical":
            out[name] = column.astype("float32")
        elif text is str:
            out[name] = column.astype(str)
        else:
            out[name] = column.astype(str).astype(text)
    return out


class OnnxModel:
    """An ONNX export run by ONNX Runtime (one session; ``run`` is thread-safe), one intra-op
    thread per call so concurrent requests do not oversubscribe the cores."""

    def __init__(self, model: bytes | Path, kinds: Mapping[str, str], threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (one per core)
        source = str(model) if isinstance(model, Path) else model
        self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._kinds = dict(kinds)

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probabilities (float64, one per row)."""
        (out,) = self._session.run(None, raw_arrays(features, self._kinds, object))
        return np.asarray(out).reshape(-1).astype("float64")


class LiteModel:
    """A LiteRT export, one interpreter per thread (an interpreter is not thread-safe).

    A fresh interpreter fails at its default 1-row shape (a RESHAPE node: "16 != 256" here)
    until it has been resized once, so each is primed with a 2-row call; after that any batch
    size works. A call resizes the inputs and reallocates only when the batch size changed:
    the signature runner does both at every call, which cost three times the model's own
    arithmetic for one row.
    """

    def __init__(self, model: bytes | Path, kinds: Mapping[str, str]) -> None:
        import threading

        self._blob = model.read_bytes() if isinstance(model, Path) else model
        self._kinds = dict(kinds)
        self._local = threading.local()

    def _runner(self) -> _LiteRunner:
        runner = getattr(self._local, "runner", None)
        if runner is None:
            import warnings

            import tensorflow as tf

            with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
                warnings.simplefilter("ignore")
                interpreter = tf.lite.Interpreter(
                    model_content=self._blob,
                    experimental_op_resolver_type=numerics.litert_resolver(),
                )
            runner = _LiteRunner(interpreter)
            primer = {n: np.zeros(2) for n in self._kinds}  # see the class docstring
            runner(raw_arrays(primer, self._kinds, str))
            self._local.runner = runner
        return runner

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probabilities (float64, one per row)."""
        value = self._runner()(raw_arrays(features, self._kinds, str))
        return np.asarray(value).reshape(-1).astype("float64")


class _LiteRunner:
    """An interpreter's first signature, called with named (n, 1) inputs; its output copied."""

    def __init__(self, interpreter: Any) -> None:
        signature = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        if getattr(signature, "_subgraph_index", 0) != 0 or len(outputs) != 1:
            raise ValueError("a LiteRT export with one signature and one output is expected")
        self._interpreter = interpreter
        self._inputs = {name: d["index"] for name, d in inputs.items()}
        self._output = next(iter(outputs.values()))["index"]
        self._rows = -1

    def __call__(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """The output for ``arrays`` (one per input, equal row counts)."""
        interpreter, rows = self._interpreter, len(next(iter(arrays.values())))
        if rows != self._rows:
            for name, index in self._inputs.items():
                interpreter.resize_tensor_input(index, arrays[name].shape)
            interpreter.allocate_tensors()
            self._rows = rows
        for name, index in self._inputs.items():
            interpreter.set_tensor(index, arrays[name])
        interpreter.invoke()
        return interpreter.get_tensor(self._output)


def keras_probabilities(model: Any, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """The Keras model called directly on raw feature arrays (strings for categoricals)."""
    import tensorflow as tf

    from tabstudy.models.keras_model import input_columns

    cats, _ = input_columns(model)
    tensors = {
        n: tf.constant(np.asarray(a).reshape(-1, 1).astype(str if n in cats else "float32"))
        for n, a in features.items()
    }
    return np.asarray(model(tensors, training=False)).reshape(-1).astype("float64")


def checks_table(report: Mapping[str, Any]) -> Any:
    """``exports.json`` as a table for reports (one row per export)."""
    import pandas as pd

    table = pd.DataFrame(report["checks"]).set_index("export")
    return table[["file", "bytes", "rows", "max_abs_diff", "delta_roc_auc", "tolerance", "passed"]]
