"""ONNX and LiteRT exports of the raw-feature model: written into the bundle, checked against
Keras when written, served by the runtimes, refused when they drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy.config import ExportConfig
from tabstudy.models import bundle, export
from tabstudy.models import keras_model as km
from tabstudy.spec import LABEL, Feature, FeatureSet

SPEC = FeatureSet(
    (
        Feature("carrier", "categorical", "t", "row", ""),
        Feature("origin", "categorical", "t", "row", ""),
        Feature("z", "numeric", "t", "row", ""),  # not in name order: the model sorts its
        Feature("x", "numeric", "t", "row", ""),  # inputs, the imputation keeps this order
    ),
    ("carrier",),
    "y = 1 when carrier A or z > 1",
    "synthetic",
    None,
    "t",
)
KINDS = {f.name: f.kind for f in SPEC.features}
CFG = ExportConfig(check_rows=500, max_abs_diff=1e-5, quantized_max_auc_drop=0.02)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3000
    out = pd.DataFrame(
        {
            "carrier": rng.choice(["A", "B", "C", "DÉ"], n).astype(object),
            "origin": rng.choice(["EWR", "JFK", "LGA", "rare"], n, p=[0.4, 0.3, 0.299, 0.001]),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    out.loc[::7, "x"] = np.nan
    out[LABEL] = ((out["carrier"] == "A") | (out["z"] > 1)).astype("int8")
    return out


@pytest.fixture(scope="module")
def model(frame):
    km.set_determinism(3)
    pre = km.build_preprocessor(frame, SPEC)
    core = km.build_core(
        km.vocab_sizes(pre),
        km.numeric_width(pre),
        km.Hyperparameters(units=256, layers=2, learning_rate=0.01),
        float(frame[LABEL].mean()),
    )
    core.fit(km.encode(pre, frame), km.labels(frame), epochs=3, batch_size=128, verbose=0)
    return km.export_model(pre, core)


@pytest.fixture(scope="module")
def written(model, frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "b"
    check = export.ExportCheck.from_frame(frame, KINDS, CFG)
    checks = bundle.write_bundle(path, model, SPEC, {}, {"value": 0.5}, {"study": "t"}, check)
    return path, checks


def awkward_rows() -> dict[str, np.ndarray]:
    """Unknown strings, an empty string, the OOV token itself, NaN and extreme numbers."""
    return {
        "carrier": np.array(["A", "never seen", "", "[UNK]", "DÉ", "B"], dtype=object),
        "origin": np.array(["rare", "JFK", "EWR", "LGA", "x" * 300, "JFK"], dtype=object),
        "x": np.array([np.nan, 0.0, 1e6, -1e6, np.nan, 2.0]),
        "z": np.array([0.0, np.nan, 1.5, -3.0, 0.5, 1e-9]),
    }


def test_exports_are_in_the_bundle_and_verified(written) -> None:
    path, checks = written
    loaded = bundle.load_bundle(path)
    for file in (*export.FORMATS.values(), export.REPORT_FILE):
        assert file in loaded.metadata["files"], file
    assert [c.export for c in checks] == ["onnx", "litert", "litert_quantized"]
    assert all(c.passed and c.rows == CFG.check_rows for c in checks)
    float_checks = [c for c in checks if c.export not in export.QUANTIZED]
    assert all(c.max_abs_diff <= CFG.max_abs_diff for c in float_checks)
    quantized = (path / export.LITERT_QUANTIZED_FILE).stat().st_size
    assert quantized < 0.5 * (path / export.LITERT_FILE).stat().st_size  # int8 weights


def test_every_runtime_matches_keras_on_awkward_rows(written, model) -> None:
    from tabstudy.serving import runtime

    loaded = bundle.load_bundle(written[0])
    rows = awkward_rows()
    expected = export.keras_probabilities(model, rows)
    for name in ("onnx", "litert", "saved_model", "keras", "auto"):
        got = runtime.load_runtime(name, loaded).predict(rows)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)
    quantized = runtime.load_runtime("litert_quantized", loaded).predict(rows)
    assert quantized.shape == expected.shape and np.all((quantized >= 0) & (quantized <= 1))
    # unknown strings share the out-of-vocabulary index with "[UNK]" in every runtime
    onnx = runtime.load_runtime("onnx", loaded).predict(rows)
    assert onnx[1] == pytest.approx(expected[1], abs=1e-6)


def test_litert_answers_alike_whatever_the_calls_before(written, model) -> None:
    """The interpreter is resized only when the batch size changes: a call gives the bits a
    fresh interpreter gives, after calls of other sizes and other string lengths. Text goes in
    as str, which LiteRT writes as UTF-8: the non-ASCII carrier "DÉ" is found in the vocabulary
    (Keras' answer, not the unknown carrier's)."""
    blob = (written[0] / export.LITERT_FILE).read_bytes()
    accented = {**awkward_rows(), "carrier": np.array(["DÉ"] * 6, dtype=object)}
    unknown = {**accented, "carrier": np.array(["DX"] * 6, dtype=object)}
    lite = export.LiteModel(blob, KINDS)
    np.testing.assert_allclose(
        lite.predict(accented), export.keras_probabilities(model, accented), atol=1e-6
    )
    assert np.abs(lite.predict(accented) - lite.predict(unknown)).max() > 1e-4
    rows, reused = awkward_rows(), export.LiteModel(blob, KINDS)
    rng = np.random.default_rng(1)
    for size in (1, 1, 6, 3, 3, 1, 6, 2):
        pick = rng.permutation(6)[:size]
        batch = {k: v[pick] for k, v in rows.items()}
        fresh = export.LiteModel(blob, KINDS).predict(batch)
        np.testing.assert_array_equal(reused.predict(batch), fresh, err_msg=str(size))


def test_auto_serves_small_requests_with_litert_in_both_numerics_modes(
    written, monkeypatch
) -> None:
    """``auto`` answers small requests with LiteRT (the fastest for one row in both modes; ONNX
    Runtime is not faster for them and its bits depend on the CPU) and big ones with the
    SavedModel, which agree within 1e-6."""
    from tabstudy.serving import runtime

    loaded = bundle.load_bundle(written[0])
    rows = awkward_rows()
    for mode in ("portable", "native"):
        monkeypatch.setenv("TABSTUDY_NUMERICS", mode)
        auto = runtime.load_runtime("auto", loaded)
        assert (auto.small.name, auto.limit, auto.large.name) == (
            "litert",
            runtime.SMALL_BATCH,
            "saved_model",
        ), mode
        assert auto.check(rows) <= runtime.AGREEMENT


def test_onnx_export_is_byte_stable(model) -> None:
    assert export.onnx_bytes(model) == export.onnx_bytes(model)


def test_an_export_beyond_tolerance_fails_and_writes_nothing(model, frame, tmp_path) -> None:
    strict = ExportConfig(check_rows=200, max_abs_diff=1e-12, quantized_max_auc_drop=0.0)
    check = export.ExportCheck.from_frame(frame, KINDS, strict)
    message = r"model\.onnx: the onnx export disagrees .* on 200 held-out rows: max \|dp\| "
    with pytest.raises(export.ExportError, match=message + r".*allowed: max \|dp\| <= 1e-12"):
        bundle.write_bundle(tmp_path / "b", model, SPEC, {}, {"value": 0.5}, {}, check)
    assert not (tmp_path / "b").exists()


def test_quantized_check_uses_the_auc_drop() -> None:
    probs = np.array([0.1, 0.2, 0.9, 0.8])
    labels = np.array([0, 0, 1, 1])
    worse = np.array([0.1, 0.85, 0.9, 0.8])  # AUC 1.0 -> 0.75
    import tempfile
    from pathlib import Path

    with tempfile.NamedTemporaryFile() as fh:
        file = Path(fh.name)
        ok = export.check_export("litert_quantized", file, probs, probs, labels, 1e-5, 0.1)
        bad = export.check_export("litert_quantized", file, worse, probs, labels, 1e-5, 0.1)
    assert ok.passed and ok.delta_roc_auc == 0.0
    assert not bad.passed and bad.delta_roc_auc == pytest.approx(-0.25)
    assert "ROC AUC change -0.25000" in export.failure_message(bad)


def test_a_bundle_without_onnx_names_the_file(written, tmp_path) -> None:
    import shutil

    from tabstudy.serving import runtime

    copy = tmp_path / "old"
    shutil.copytree(written[0], copy)
    loaded = bundle.load_bundle(copy)
    (copy / export.ONNX_FILE).unlink()
    with pytest.raises(ValueError, match=r"model\.onnx: this bundle has no model\.onnx"):
        runtime.load_runtime("onnx", loaded)


def test_recorded_checks_do_not_carry_a_cpus_last_bits() -> None:
    """Differences are recorded as bounds at 1e-6 (rounded up), AUCs rounded, -0.0 made 0.0."""
    assert export._up(1.19e-7) == export._up(5.96e-8) == 1e-6
    assert export._up(4.6797993e-3) == 0.00468 and export._up(0.0) == 0.0
    assert export._near(-1.1e-16) == 0.0 and str(export._near(-1.1e-16)) == "0.0"
    assert export._near(0.72913451) == 0.729135 and export._near(None) is None
