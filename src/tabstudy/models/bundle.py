"""The model bundle: one self-describing, verified directory per trained model.

``train`` writes it (:func:`write_bundle`); evaluate, monitor, the model card and serving read it
through :func:`load_bundle`, which checks the SHA-256 of every file against the bundle's
metadata and refuses a bundle whose files do not match, naming the file. Contents::

    model.keras          the Keras model over raw features (byte-stable: see _stable_keras_zip)
    saved_model/         the same model as a TensorFlow SavedModel (``serve`` signature)
    feature_spec.json    the feature contract in force (tabstudy.spec)
    reference_stats.json training-window statistics for drift detection
    threshold.json       the decision threshold and how it was chosen on the validation window
    model.onnx, model.tflite, model_dynamic_range.tflite, exports.json
                         the exports (tabstudy.models.export), each checked against the Keras
                         model on held-out rows when written
    metadata.json        study, label definition, training window, hyperparameters, package
                         versions, code version, and the SHA-256 of every file above
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabstudy import artifacts
from tabstudy.models import export
from tabstudy.spec import FeatureSet

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
SAVED_MODEL = "saved_model"
SPEC_FILE = "feature_spec.json"
REFERENCE_FILE = "reference_stats.json"
THRESHOLD_FILE = "threshold.json"
METADATA_FILE = "metadata.json"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
KERAS_SAVE_DATE = "1980-01-01@00:00:00"


class BundleError(ValueError):
    """A bundle is missing, incomplete or was modified after it was written."""


@dataclass(frozen=True)
class Bundle:
    """A verified bundle (see :func:`load_bundle`)."""

    path: Path
    metadata: dict[str, Any]
    spec: FeatureSet
    reference: dict[str, Any]
    threshold: dict[str, Any]

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def saved_model_dir(self) -> Path:
        return self.path / SAVED_MODEL

    def keras_model(self) -> Any:
        """The Keras model (loaded with ``safe_mode``: no arbitrary code)."""
        import keras

        import tabstudy.models.keras_model  # noqa: F401  (registers the custom layer)

        return keras.saving.load_model(self.model_file, safe_mode=True)


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` but the metadata, by POSIX relative path."""
    return {
        p.relative_to(directory).as_posix(): artifacts.sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != METADATA_FILE
    }


def _renumber_shared_ids(config: Any, mapping: dict[Any, int] | None = None) -> Any:
    """Replace Keras' ``shared_object_id`` values (memory addresses) by 1, 2, ... in order of
    first appearance; objects shared stay shared."""
    mapping = {} if mapping is None else mapping
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "shared_object_id":
                config[key] = mapping.setdefault(value, len(mapping) + 1)
            else:
                _renumber_shared_ids(value, mapping)
    elif isinstance(config, list):
        for value in config:
            _renumber_shared_ids(value, mapping)
    return config


def stable_keras_zip(path: Path) -> None:
    """Rewrite a ``.keras`` file so that equal models give equal bytes.

    Keras stamps ``metadata.json`` with the save time, numbers shared objects in
    ``config.json`` by their memory address, and dates the weights entry with the write time;
    all three are made fixed (entries kept in order, weights untouched).
    """
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zout:
        for info, data in entries:
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["date_saved"] = KERAS_SAVE_DATE
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumber_shared_ids(json.loads(data))).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = info.compress_type
            fixed.external_attr = 0o600 << 16  # as Keras writes it
            fixed.create_system = 3
            zout.writestr(fixed, data)
    path.write_bytes(buf.getvalue())


@contextlib.contextmanager
def _sorted_export_variables() -> Iterator[None]:
    """Export variables in name order.

    Keras lists a SavedModel's variables from a set ordered by object ``id()``, so their order
    (and with it the object graph and checkpoint bytes) changes from process to process. This
    patches that private function (keras 3.15, pinned in requirements.in; tests/test_keras_guards.py
    and the bundle byte-equality test guard it).
    """
    from keras.src.export import saved_model_export_archive as archive

    original = archive._list_variables_used_by_fns

    def ordered(fns: Any) -> tuple[list[Any], list[Any]]:
        trainable, non_trainable = original(fns)

        def key(v: Any) -> tuple[str, str, tuple[int, ...]]:
            return (v.name, str(v.dtype), tuple(v.shape))

        return sorted(trainable, key=key), sorted(non_trainable, key=key)

    archive._list_variables_used_by_fns = ordered
    try:
        yield
    finally:
        archive._list_variables_used_by_fns = original


def _stable_fingerprint(export_dir: Path) -> None:
    """Replace the random ``uuid`` of ``fingerprint.pb`` by a digest of its other fields."""
    from tensorflow.core.protobuf import fingerprint_pb2

    path = export_dir / "fingerprint.pb"
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()[:16]
    fingerprint.uuid = str(int.from_bytes(digest, "big"))
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def export_saved_model(model: Any, export_dir: Path) -> None:
    """``model.export`` as a SavedModel (``serve`` signature), byte-stable for equal models
    exported after the same work in a process."""
    with _sorted_export_variables():
        model.export(str(export_dir), format="tf_saved_model", verbose=False)
    _stable_fingerprint(export_dir)


def write_bundle(
    dest: Path,
    model: Any,
    spec: FeatureSet,
    reference: dict[str, Any],
    threshold: dict[str, Any],
    metadata: dict[str, Any],
    exports: export.ExportCheck | None = None,
) -> list[export.Check]:
    """Write a bundle atomically to ``dest`` (replacing what is there only on success).

    Args:
        dest: the bundle directory.
        model: the Keras model over raw features.
        spec: the feature set the model was trained with.
        reference: training-window statistics for drift detection.
        threshold: the decision threshold and how it was chosen.
        metadata: provenance (study, windows, hyperparameters, versions...); the file hashes
            and the format version are added here.
        exports: held-out rows and tolerances: with them, the ONNX and LiteRT exports are
            written and checked (:func:`export.write_exports`); without, none are.

    Returns:
        The export checks (empty without ``exports``).

    Raises:
        export.ExportError: an export beyond its tolerance (nothing is written).
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no "Assets written to <tmp path>" lines
    with artifacts.atomic_dir(dest) as tmp:  # tmp is private: plain writes inside it
        model.save(tmp / MODEL_FILE)
        stable_keras_zip(tmp / MODEL_FILE)
        export_saved_model(model, tmp / SAVED_MODEL)
        checks = (
            [] if exports is None else export.write_exports(tmp, tmp / SAVED_MODEL, model, exports)
        )
        for name, obj in (
            (SPEC_FILE, spec.to_dict()),
            (REFERENCE_FILE, reference),
            (THRESHOLD_FILE, threshold),
        ):
            (tmp / name).write_text(artifacts.json_text(obj), encoding="utf-8")
        meta = {"format_version": FORMAT_VERSION, **metadata, "files": file_hashes(tmp)}
        (tmp / METADATA_FILE).write_text(artifacts.json_text(meta), encoding="utf-8")
    return checks


def training_metadata(
    spec: FeatureSet,
    train: Any,
    seed: int,
    hyperparameters: dict[str, Any],
    train_params: dict[str, Any],
    weights_sha256: str,
    code: dict[str, Any],
    packages: dict[str, Any],
) -> dict[str, Any]:
    """The metadata of a bundle trained on the DataFrame ``train`` (no timestamps: equal
    training runs give equal bytes)."""
    from tabstudy.spec import LABEL

    window: dict[str, Any] = {
        "rows": len(train),
        "positive_rate": float(train[LABEL].mean()),
    }
    if spec.time_column and spec.time_column in train.columns:
        window["first_date"] = train[spec.time_column].min().date().isoformat()
        window["last_date"] = train[spec.time_column].max().date().isoformat()
    return {
        "study": spec.study,
        "label_definition": spec.label_definition,
        "training_window": window,
        "seed": seed,
        "hyperparameters": hyperparameters,
        "train_params": train_params,
        "weights_sha256": weights_sha256,
        "code": code,
        "packages": packages,
    }


def summary(metadata: dict[str, Any]) -> Any:
    """A small table of a bundle's metadata for reports (no hashes, no versions)."""
    import pandas as pd

    window = metadata["training_window"]
    rows = {
        "study": metadata["study"],
        "label": metadata["label_definition"],
        "training rows": window["rows"],
        "training positive rate": round(window["positive_rate"], 4),
        "training window": f"{window.get('first_date', 'n/a')} to {window.get('last_date', 'n/a')}",
        "files": len(metadata.get("files", {})),
    }
    return pd.Series(rows, name="bundle").to_frame()


def load_bundle(path: Path) -> Bundle:
    """Read and verify a bundle.

    Raises:
        BundleError: naming the file, when the bundle or its metadata is missing, a listed file
            is missing or its SHA-256 differs, or a file is present that the metadata does not
            list.
    """
    meta_path = Path(path) / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"{meta_path}: no bundle metadata here; run the train stage")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        listed: dict[str, str] = metadata["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{meta_path}: unreadable bundle metadata ({err})") from None
    found = file_hashes(Path(path))
    for rel, expected in listed.items():
        if rel not in found:
            raise BundleError(f"{Path(path) / rel}: listed in {METADATA_FILE} but missing")
        if found[rel] != expected:
            raise BundleError(
                f"{Path(path) / rel}: SHA-256 {found[rel][:16]}... does not match "
                f"{METADATA_FILE} ({expected[:16]}...); the bundle was modified after training"
            )
    extra = sorted(set(found) - set(listed))
    if extra:
        raise BundleError(f"{Path(path) / extra[0]}: not part of the bundle ({METADATA_FILE})")
    return Bundle(
        Path(path),
        metadata,
        FeatureSet.from_dict(artifacts.read_json(Path(path) / SPEC_FILE)),
        artifacts.read_json(Path(path) / REFERENCE_FILE),
        artifacts.read_json(Path(path) / THRESHOLD_FILE),
    )
