"""Numerics that do not depend on the CPU: the settings, the start-up hook, and a small training
run and NumPy/OpenBLAS probe that give the same bits on emulated machines (other oneDNN ISA,
NumPy dispatch level, OpenBLAS kernel, one core), and different bits with the mechanism off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tabstudy import numerics

AVX512_FLAGS = frozenset(numerics.NUMPY_ABOVE_V3["AVX512_SPR"]) | {"avx2", "fma"}

# Machines this one can pretend to be: what their hardware would make the libraries choose.
EMULATED: dict[str, dict[str, str]] = {
    "this CPU, 2 cores": {},
    "AVX2 only (an AMD Zen)": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Zen",
        "ARROW_USER_SIMD_LEVEL": "AVX2",
    },
    "AVX-512 without AMX, 1 core": {
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "NPY_DISABLE_CPU_FEATURES": "AVX512_SPR",
        "OPENBLAS_CORETYPE": "SkylakeX",
        "ARROW_USER_SIMD_LEVEL": "AVX512",
        "CPUS": "1",
    },
}


def machine_env(base: dict[str, str], machine: dict[str, str], portable: bool) -> dict[str, str]:
    """The environment a child process gets on an emulated ``machine`` (``CPUS`` is not a
    variable: see :func:`run_on`), with the mechanism on or off."""
    env = dict(base) if portable else numerics.native_env(base)
    if portable:
        env.pop(numerics.SWITCH, None)
    env.update({k: v for k, v in machine.items() if k != "CPUS"})
    return env


def run_on(cmd: list[str], machine: dict[str, str], portable: bool, **kwargs):
    """Run ``cmd`` as on the emulated ``machine``: its variables set, pinned to ``CPUS`` cores."""
    cpus = int(machine.get("CPUS", 0))
    allowed = sorted(os.sched_getaffinity(0))[:cpus] if cpus else None
    return subprocess.run(
        cmd,
        env=machine_env(kwargs.pop("env", dict(os.environ)), machine, portable),
        preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None,
        capture_output=True,
        text=True,
        **kwargs,
    )


PORTABLE_UNDER_TEST = numerics.mode() == numerics.PORTABLE
"""``TABSTUDY_NUMERICS=native pytest tests/test_numerics.py`` runs the emulation tests with the
mechanism off: they must fail then (the closing note of issue 21 shows it)."""


def test_settings_pin_onednn_threads_blas_numpy_and_arrow() -> None:
    got = numerics.settings({}, AVX512_FLAGS, x86=True)
    assert got["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert got["ONEDNN_MAX_CPU_ISA"] == "AVX2" and got["ARROW_USER_SIMD_LEVEL"] == "AVX2"
    assert got["TF_NUM_INTRAOP_THREADS"] == "2" and got["OMP_NUM_THREADS"] == "1"
    assert got["OPENBLAS_NUM_THREADS"] == "1" and got["OPENBLAS_CORETYPE"] == "Haswell"
    assert got["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL AVX512_SPR"


def test_a_lower_cap_of_the_machine_is_kept_a_higher_one_lowered_a_bad_one_replaced() -> None:
    isas = numerics.ONEDNN_ISAS
    assert numerics.capped(isas, "AVX512_CORE_AMX", "AVX2") == "AVX2"
    assert numerics.capped(isas, "avx", "AVX2") == "AVX"
    assert numerics.capped(isas, "nonsense", "AVX2") == "AVX2"
    assert numerics.capped(isas, None, "AVX2") == "AVX2"


def test_numpy_features_are_disabled_only_where_the_cpu_has_them() -> None:
    assert numerics.numpy_disabled(frozenset({"avx2", "fma"}), None) == ""
    only_v4 = frozenset(numerics.NUMPY_ABOVE_V3["X86_V4"])
    assert numerics.numpy_disabled(only_v4, None) == "X86_V4"
    assert numerics.numpy_disabled(only_v4, "X86_V4,AVX512_SPR") == "X86_V4 AVX512_SPR"
    assert "NPY_DISABLE_CPU_FEATURES" not in numerics.settings({}, frozenset(), x86=True)


def test_the_cpuinfo_mapping_agrees_with_numpys_own_detection() -> None:
    """NumPy's detection, in a process where nothing is disabled (this one has the pins)."""
    flags = numerics.cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags on this machine")
    ask = "import json; from numpy._core._multiarray_umath import __cpu_features__ as f; "
    ask += "print(json.dumps(f))"
    clean = numerics.native_env(os.environ)
    done = subprocess.run([sys.executable, "-c", ask], env=clean, capture_output=True, text=True)
    detected = json.loads(done.stdout)
    for feature, needs in numerics.NUMPY_ABOVE_V3.items():
        assert (set(needs) <= flags) == detected[feature], feature


def test_off_x86_only_the_thread_counts_are_set() -> None:
    got = numerics.settings({}, frozenset(), x86=False)
    assert set(got) == set(numerics.FIXED)


def test_a_bad_switch_value_is_named_and_native_sets_nothing() -> None:
    with pytest.raises(ValueError, match=r"\$TABSTUDY_NUMERICS='fast'"):
        numerics.mode({"TABSTUDY_NUMERICS": "fast"})
    assert numerics.mode({"TABSTUDY_NUMERICS": ""}) == numerics.mode({}) == "portable"
    env = {"TABSTUDY_NUMERICS": "native", "PATH": "/bin"}
    assert numerics.apply(env) == {} and env == {"TABSTUDY_NUMERICS": "native", "PATH": "/bin"}
    env = {"TF_ENABLE_ONEDNN_OPTS": "0", "OMP_NUM_THREADS": "1", "HOME": "/root"}
    assert numerics.native_env(env) == {"HOME": "/root", "TABSTUDY_NUMERICS": "native"}


def test_apply_is_idempotent() -> None:
    env: dict[str, str] = {}
    first = numerics.apply(env)
    assert numerics.apply(env) == first and env == first


def test_every_interpreter_of_the_environment_starts_with_the_settings(tmp_path: Path) -> None:
    """The start-up hook: a bare interpreter that imports nothing of ours has them (so do
    kernels, dvc, the service); with the switch off it has none."""
    show = [sys.executable, "-c", "import os; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"]
    clean = numerics.native_env(dict(os.environ))
    clean.pop(numerics.SWITCH)
    on = subprocess.run(show, env=clean, capture_output=True, text=True, check=True, cwd=tmp_path)
    assert on.stdout.strip() == "0", "start-up hook missing: run `make install`"
    off = subprocess.run(show, env=numerics.native_env(clean), capture_output=True, text=True,
                         check=True, cwd=tmp_path)  # fmt: skip
    assert off.stdout.strip() == "None"


PROBE = r"""
import hashlib, numpy as np, keras, tensorflow as tf
keras.utils.set_random_seed(0); tf.config.experimental.enable_op_determinism()
rng = np.random.default_rng(0)
x = rng.normal(size=(4000, 24)).astype("float32")
y = (x[:, 0] + 0.5 * rng.normal(size=4000) > 0).astype("float32")
inp = keras.Input((24,))
h = keras.layers.Dense(128, activation="relu")(inp)
model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(h))
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(x, y, batch_size=256, epochs=2, verbose=0)
a = rng.normal(size=(300, 200))
h = hashlib.sha256()
for part in (*model.get_weights(), np.exp(a), np.log1p(np.abs(a)), np.tanh(a), a.T @ a):
    h.update(np.ascontiguousarray(part).tobytes())
print(h.hexdigest())
"""


def probe_digests(portable: bool) -> dict[str, str]:
    """The probe's digest on every emulated machine."""
    out = {}
    for name, machine in EMULATED.items():
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = run_on([sys.executable, "-c", PROBE], machine, portable, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        out[name] = done.stdout.strip().splitlines()[-1]
    return out


def test_a_training_run_and_numpy_give_the_same_bits_on_every_emulated_machine() -> None:
    digests = probe_digests(PORTABLE_UNDER_TEST)
    assert len(set(digests.values())) == 1, digests


def test_the_emulated_machines_differ_with_the_mechanism_off() -> None:
    """The control: without the pins the same probe tells the machines apart, so the test above
    can fail (it does under ``TABSTUDY_NUMERICS=native``)."""
    if "avx512f" not in numerics.cpu_flags():
        pytest.skip("this CPU has no AVX-512: the emulated machines above it are not different")
    digests = probe_digests(portable=False)
    assert len(set(digests.values())) > 1, digests


def training_step_ops() -> set[str]:
    """Every op type in the traced training step of a small core network (loss, gradients,
    optimizer, metrics)."""
    import numpy as np
    import tensorflow as tf

    from tabstudy.models import keras_model as km

    model = km.build_core({"carrier": 20, "origin": 5}, 7, km.Hyperparameters(), 0.25)
    rows = np.arange(64).reshape(-1, 1)
    numeric = np.random.default_rng(0).normal(size=(64, 7)).astype("float32")
    x = {"carrier": tf.constant(rows % 20), "origin": tf.constant(rows % 5),
         km.NUMERIC_INPUT: tf.constant(numeric)}  # fmt: skip
    y = tf.constant((rows.ravel() % 3 == 0).astype("float32"))
    model.optimizer.build(model.trainable_variables)
    graph = tf.function(model.train_step).get_concrete_function((x, y)).graph
    types = {op.type for op in graph.get_operations()}
    for fn in graph._functions.values():  # nested function bodies (conds, gradients)
        types |= {op.type for op in fn.graph.get_operations()}
    return types


def test_the_training_step_uses_no_op_that_rounds_differently_on_another_cpu_vendor() -> None:
    types = training_step_ops()
    assert {"MatMul", "Sqrt", "Softplus"} <= types  # traced, with Adam and our loss
    assert not types & numerics.APPROXIMATE_TF_OPS, types & numerics.APPROXIMATE_TF_OPS
