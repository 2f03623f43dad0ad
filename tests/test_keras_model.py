"""The Keras model on a tiny synthetic frame: preprocessing, export and exact reload."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tabstudy.models import keras_model as km
from tabstudy.spec import LABEL, Feature, FeatureSet
from tabstudy.studies.flights import features as fe


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    data = {
        name: rng.choice(["A", "B", "C"], n).astype(object) for name in fe.categorical_features()
    }
    data.update({name: rng.normal(size=n) for name in fe.numeric_features()})
    out = pd.DataFrame(data)
    out.loc[::7, "wx_temp"] = np.nan
    out[LABEL] = (out["wx_dewp"] + (out["carrier"] == "A") > 0.5).astype("int8")
    return out


@pytest.fixture(scope="module")
def trained(frame):
    km.set_determinism(7)
    pre = km.build_preprocessor(frame, FeatureSet(fe.FEATURE_SPEC))
    x = km.encode(pre, frame)
    core = km.build_core(
        km.vocab_sizes(pre),
        km.numeric_width(pre),
        km.Hyperparameters(units=16, layers=1, learning_rate=0.01),
        float(frame[LABEL].mean()),
    )
    core.fit(x, km.labels(frame), epochs=10, batch_size=64, verbose=0)
    return km.export_model(pre, core)


def test_impute_normalize_handles_nan() -> None:
    layer = km.ImputeNormalize([1.0, 0.0], [2.0, 1.0])
    out = np.asarray(
        layer([np.array([[np.nan], [3.0]], "float32"), np.array([[1.0], [1.0]], "float32")])
    )
    np.testing.assert_allclose(out, [[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])


def test_vocabulary_is_frequency_then_name_ordered() -> None:
    values = pd.Series(["b"] * 5 + ["a"] * 5 + ["c"] * 9 + ["rare"])
    assert km.vocabulary(values, min_count=5) == ["c", "a", "b"]


def test_unseen_category_goes_to_oov(frame, trained) -> None:
    row = frame.head(1).copy()
    row["dest"] = "NEVER_SEEN"
    p = km.predict(trained, row)
    assert p.shape == (1,) and 0.0 < p[0] < 1.0


def test_model_learns_something(frame, trained) -> None:
    from tabstudy.evaluation.metrics import metrics

    assert metrics(frame[LABEL].to_numpy(), km.predict(trained, frame))["roc_auc"] > 0.8


def test_bundle_reload_reproduces_predictions(frame, trained, tmp_path) -> None:
    from tabstudy.models import bundle

    spec = FeatureSet(fe.FEATURE_SPEC, ("carrier",), "y = 1 when A", "synthetic", None, "t")
    meta = {"study": "t", "weights_sha256": km.weights_digest(trained)}
    bundle.write_bundle(tmp_path / "b", trained, spec, {"rows": 1}, {"value": 0.5}, meta)
    loaded = bundle.load_bundle(tmp_path / "b")
    assert loaded.spec == spec and loaded.threshold == {"value": 0.5}
    assert loaded.metadata["study"] == "t" and "model.keras" in loaded.metadata["files"]
    expected = km.predict(trained, frame)
    reloaded = loaded.keras_model()
    np.testing.assert_array_equal(km.predict(reloaded, frame), expected)
    serve = tf.saved_model.load(str(loaded.saved_model_dir)).signatures["serve"]
    raw = {k: tf.constant(v) for k, v in km.raw_arrays(frame, trained).items()}
    out = next(iter(serve(**raw).values())).numpy().reshape(-1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert km.weights_digest(reloaded) == km.weights_digest(trained)
    # the Keras file is byte-stable: a second save of the same model gives the same bytes
    bundle.write_bundle(tmp_path / "c", trained, spec, {"rows": 1}, {"value": 0.5}, meta)
    again = bundle.load_bundle(tmp_path / "c")
    assert again.metadata["files"]["model.keras"] == loaded.metadata["files"]["model.keras"]


def test_numeric_only_features_build_and_export() -> None:
    """A table with no categorical column (e.g. the breast cancer example) trains and exports."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame[LABEL] = (frame["a"] + 0.3 * rng.normal(size=200) > 0).astype("int8")
    spec = FeatureSet(
        (Feature("a", "numeric", "t", "row", ""), Feature("b", "numeric", "t", "row", "")),
    )
    pre = km.build_preprocessor(frame, spec)
    x = km.encode(pre, frame)
    core = km.build_core(
        km.vocab_sizes(pre),
        km.numeric_width(pre),
        km.Hyperparameters(units=8, learning_rate=0.05),
        0.5,
    )
    core.fit(x, km.labels(frame), epochs=20, batch_size=32, verbose=0)
    model = km.export_model(pre, core)
    assert km.input_columns(model) == ([], ["a", "b"])
    from tabstudy.evaluation.metrics import metrics as score

    assert score(frame[LABEL].to_numpy(), km.predict(model, frame))["roc_auc"] > 0.9


def test_tf_data_examples_from_parquet_match_the_preprocessor(frame, tmp_path) -> None:
    """The cached tf.data path encodes exactly what the preprocessor gives on the frame."""
    pre = km.build_preprocessor(frame, FeatureSet(fe.FEATURE_SPEC))
    path = tmp_path / "train.parquet"
    frame.to_parquet(path)
    examples = km.encoded_examples(path, pre, chunk=64)
    batch_x, batch_y = next(iter(km.batches(examples, len(frame))))
    expected = km.encode(pre, frame)
    for name, values in expected.items():  # exact lookups; floats up to chunking round-off
        np.testing.assert_allclose(batch_x[name].numpy(), values, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(batch_y.numpy(), km.labels(frame))
    assert batch_x[km.NUMERIC_INPUT].shape[1] == km.numeric_width(pre)


def test_batches_shuffle_is_seeded_and_reshuffles_each_epoch(frame, tmp_path) -> None:
    pre = km.build_preprocessor(frame, FeatureSet(fe.FEATURE_SPEC))
    path = tmp_path / "train.parquet"
    frame.to_parquet(path)
    examples = km.encoded_examples(path, pre)

    def first_epochs(seed: int) -> list[np.ndarray]:
        ds = km.batches(examples, len(frame), seed)
        return [next(iter(ds))[1].numpy() for _ in range(2)]

    a, b = first_epochs(3), first_epochs(3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1]) or a[0].std() == 0


def test_tampered_missing_or_extra_bundle_files_are_refused(trained, tmp_path) -> None:
    from tabstudy.models import bundle

    spec = FeatureSet(fe.FEATURE_SPEC)
    bundle.write_bundle(tmp_path / "b", trained, spec, {}, {"value": 0.5}, {"study": "t"})
    path = tmp_path / "b"
    bundle.load_bundle(path)  # intact
    weights = path / "saved_model" / "variables" / "variables.index"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit
    with pytest.raises(bundle.BundleError, match=r"variables\.index: SHA-256 .* does not match"):
        bundle.load_bundle(path)
    weights.unlink()
    with pytest.raises(bundle.BundleError, match=r"variables\.index: listed in metadata"):
        bundle.load_bundle(path)
    weights.write_bytes(original)
    (path / "notes.txt").write_text("hi")
    with pytest.raises(bundle.BundleError, match=r"notes\.txt: not part of the bundle"):
        bundle.load_bundle(path)
    with pytest.raises(bundle.BundleError, match="no bundle metadata"):
        bundle.load_bundle(tmp_path / "nowhere")


def test_balanced_class_weights_and_the_prior_shift_back() -> None:
    """train.class_weight: balanced on a 5% positive target: trained with equal class weight,
    the model's mean probability is near 0.5; after :func:`undo_class_weight` it estimates the
    real positive rate again, and the ranking (ROC AUC) is untouched by the shift."""
    from sklearn.metrics import roc_auc_score

    keras = pytest.importorskip("keras")
    km.set_determinism(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2)).astype("float32")
    y = (rng.random(20000) < 1 / (1 + np.exp(-(-3.3 + 1.0 * x[:, 0])))).astype("float32")
    weights = km.class_weights(y, "balanced")
    assert km.class_weights(y, "none") is None and km.class_weights(np.ones(5), "balanced") is None
    w0, w1 = weights
    assert w0 * (y == 0).sum() == pytest.approx(w1 * (y == 1).sum())  # each class: half
    inputs = keras.Input(shape=(2,))
    model = km.compile_model(
        keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="p_positive")(inputs)),
        0.05,
    )
    weight = km.keras_class_weight(weights)
    model.fit(x, y, epochs=8, batch_size=512, verbose=0, class_weight=weight)
    weighted = model.predict(x, verbose=0).ravel()
    shift = km.undo_class_weight(model, weights)
    honest = model.predict(x, verbose=0).ravel()
    assert shift == pytest.approx(-np.log(w1 / w0))
    assert weighted.mean() > 0.3  # weighting inflates the probabilities ...
    assert abs(honest.mean() - y.mean()) < 0.01  # ... the shift brings back the real rate
    assert roc_auc_score(y, honest) == pytest.approx(roc_auc_score(y, weighted), abs=1e-6)
    assert km.undo_class_weight(model, None) == 0.0
