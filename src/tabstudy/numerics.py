"""Numerics that do not depend on the CPU model or the core count: the one place they are set.

TensorFlow, NumPy, OpenBLAS, Arrow and oneDNN pick their kernels by the CPU's instruction set at
run time, and several split their work by the number of threads; a different kernel or split
sums in another order and changes the last bits of a result. The study's outputs are hashed in
``dvc.lock``, so on another CPU they would differ. :func:`apply` fixes every such choice through
environment variables, which each library reads once, when it loads; so they must be set before
NumPy or TensorFlow is imported. Every Python process of the project's environment does that:
``make install`` puts a start-up hook (:func:`install_hook`, a ``.pth`` file) into the
environment's ``site-packages``, so the stage runner, ``dvc``, papermill kernels, JupyterLab's
kernels, the service, the scorer, tests and benchmarks all compute the same way. Importing
:mod:`tabstudy` applies it too (for an environment without the hook), and warns when NumPy or
TensorFlow was loaded before.

What is fixed (x86-64; elsewhere only the thread counts):

========================  =========================  ==============================================
variable                  value                      why
========================  =========================  ==============================================
TF_ENABLE_ONEDNN_OPTS     0                          oneDNN's custom ops (matmul, ...) choose
                                                     kernels by ISA, cache and core count
ONEDNN_MAX_CPU_ISA        AVX2 (or a lower cap)      TensorFlow's Eigen contractions still call
                                                     oneDNN's sgemm, which dispatches by ISA
TF_NUM_INTRAOP_THREADS    2                          Eigen splits contractions by pool size
TF_NUM_INTEROP_THREADS    2                          (scheduling only; fixed for completeness)
OMP_NUM_THREADS           1                          scikit-learn's HistGradientBoosting sums
                                                     gradients in OpenMP chunks of min(this, cores)
OPENBLAS_NUM_THREADS      1                          OpenBLAS splits GEMM by thread count (capped
                                                     at the core count, so only 1 is portable)
OPENBLAS_CORETYPE         Haswell                    OpenBLAS picks its kernels by CPU model
NPY_DISABLE_CPU_FEATURES  the machine's AVX-512 sets NumPy's ufuncs dispatch by ISA (exp, log,
                                                     sums, ...): pinned at X86_V3 (AVX2 + FMA)
ARROW_USER_SIMD_LEVEL     AVX2 (or a lower level)    Arrow's compute kernels dispatch by ISA
========================  =========================  ==============================================

LightGBM is given its thread count in code (``models.baselines.LGBM_THREADS``); LiteRT runs
without its XNNPACK delegate (which dispatches by ISA; :func:`litert_resolver`). ONNX Runtime has
no such switch: its results may differ in the last bits between CPUs, so the recorded export
check rounds them (``models.export``) and the portable ``auto`` runtime does not use it.

One source of difference no variable removes: TensorFlow's ``Reciprocal`` and ``Rsqrt`` CPU
kernels start from the approximate ``rcpps``/``rsqrtps`` instructions, whose bits differ between
Intel and AMD CPUs (checked under QEMU's emulated AMD EPYC: every matmul, exp, log, sigmoid and
sum matched this machine's bits, ``rsqrt`` did not). Keras' cross-entropy differentiates
``log1p`` through ``Reciprocal``; the study trains with
``models.keras_model.PortableBinaryCrossentropy`` instead, and a test keeps every op of
:data:`APPROXIMATE_TF_OPS` out of the training step.

``TABSTUDY_NUMERICS=native`` leaves everything as the libraries choose (faster on some machines,
not reproducible across them); ``benchmarks/determinism.py`` measures the difference.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from collections.abc import Mapping, MutableMapping

APPROXIMATE_TF_OPS: frozenset[str] = frozenset(
    {"Reciprocal", "Inv", "Rsqrt", "ReciprocalGrad", "InvGrad", "RsqrtGrad"}
)
"""TensorFlow ops whose CPU kernels round differently on different CPU vendors."""

SWITCH = "TABSTUDY_NUMERICS"
PORTABLE, NATIVE = "portable", "native"

TF_THREADS = 2
FIXED: dict[str, str] = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_NUM_INTRAOP_THREADS": str(TF_THREADS),
    "TF_NUM_INTEROP_THREADS": str(TF_THREADS),
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
FIXED_X86: dict[str, str] = {"OPENBLAS_CORETYPE": "Haswell"}

# Caps: a machine (or a test emulating one) may already have set a lower one; keep the lower.
ONEDNN_ISAS: tuple[str, ...] = (
    "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX",
    "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16", "ALL",
)  # fmt: skip
ARROW_LEVELS: tuple[str, ...] = ("NONE", "SSE4_2", "AVX", "AVX2", "AVX512", "MAX")
CAPS: dict[str, tuple[tuple[str, ...], str]] = {
    "ONEDNN_MAX_CPU_ISA": (ONEDNN_ISAS, "AVX2"),
    "ARROW_USER_SIMD_LEVEL": (ARROW_LEVELS, "AVX2"),
}

# NumPy's dispatch targets above X86_V3 (numpy 2.4 names) and the /proc/cpuinfo flags NumPy
# requires for each; only those the machine has may be disabled (else NumPy warns).
NUMPY_ENV = "NPY_DISABLE_CPU_FEATURES"
_V4 = ("avx512f", "avx512cd", "avx512vl", "avx512bw", "avx512dq")
_ICL = (*_V4, "avx512vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg",
        "avx512_vpopcntdq", "avx512ifma", "gfni", "vaes", "vpclmulqdq")  # fmt: skip
NUMPY_ABOVE_V3: dict[str, tuple[str, ...]] = {
    "X86_V4": _V4,
    "AVX512_ICL": _ICL,
    "AVX512_SPR": (*_ICL, "avx512_fp16", "avx512_bf16"),
}


def mode(env: Mapping[str, str] | None = None) -> str:
    """``portable`` (the default, also when ``$TABSTUDY_NUMERICS`` is empty) or ``native``;
    ValueError naming the variable for anything else."""
    value = (os.environ if env is None else env).get(SWITCH, "").strip().lower() or PORTABLE
    if value not in (PORTABLE, NATIVE):
        raise ValueError(f"${SWITCH}={value!r}: use {PORTABLE!r} or {NATIVE!r}")
    return value


def is_x86() -> bool:
    """True on x86-64, where the ISA pins apply."""
    return platform.machine().lower() in ("x86_64", "amd64")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                cpuinfo = fh.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def capped(names: tuple[str, ...], current: str | None, cap: str) -> str:
    """The lower of ``current`` (an existing cap, if it is a known name) and ``cap``."""
    if current is None or current.upper() not in names:
        return cap
    return min(current.upper(), cap, key=names.index)


def numpy_disabled(flags: frozenset[str], current: str | None) -> str:
    """``NPY_DISABLE_CPU_FEATURES``: the ones already listed plus NumPy's dispatch targets above
    X86_V3 that this CPU has."""
    names = (current or "").replace(",", " ").split()
    names += [f for f, need in NUMPY_ABOVE_V3.items() if set(need) <= flags and f not in names]
    return " ".join(names)


def settings(env: Mapping[str, str], flags: frozenset[str], x86: bool) -> dict[str, str]:
    """Every variable :func:`apply` sets, given the current environment and the CPU."""
    out = dict(FIXED)
    if x86:
        out.update(FIXED_X86)
        for name, (names, cap) in CAPS.items():
            out[name] = capped(names, env.get(name), cap)
        disabled = numpy_disabled(flags, env.get(NUMPY_ENV))
        if disabled:
            out[NUMPY_ENV] = disabled
    return out


def apply(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the portable numerics in ``env`` (default ``os.environ``) unless the mode is
    ``native``; return what was set. Idempotent. Warns when NumPy or TensorFlow is already
    loaded in this process with other settings (they read them only when they load)."""
    target = os.environ if env is None else env
    if mode(target) == NATIVE:
        return {}
    wanted = settings(target, cpu_flags(), is_x86())
    changed = {k: v for k, v in wanted.items() if target.get(k) != v}
    target.update(wanted)
    loaded = [m for m in ("numpy", "tensorflow") if m in sys.modules]
    if env is None and changed and loaded:
        warnings.warn(
            f"tabstudy.numerics: {' and '.join(loaded)} loaded before the portable numerics "
            f"were set ({', '.join(sorted(changed))}); results may differ from dvc.lock. "
            "Run `make install` (it adds the start-up hook) or import tabstudy first.",
            RuntimeWarning,
            stacklevel=2,
        )
    return wanted


def native_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` for a child process that computes as the libraries choose: every
    variable :func:`apply` sets removed, and the switch set to ``native``."""
    keys = {*FIXED, *FIXED_X86, *CAPS, NUMPY_ENV}
    out = {k: v for k, v in env.items() if k not in keys}
    out[SWITCH] = NATIVE
    return out


def litert_resolver() -> object:
    """The LiteRT op resolver for :class:`tf.lite.Interpreter`: built-in kernels without the
    XNNPACK delegate in portable mode (XNNPACK picks its kernels by ISA), the default (``AUTO``,
    XNNPACK) in native mode."""
    import tensorflow as tf

    kinds = tf.lite.experimental.OpResolverType
    return kinds.AUTO if mode() == NATIVE else kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES


HOOK_FILE = "tabstudy_numerics.pth"
HOOK_LINE = (  # tolerant: while tabstudy is being reinstalled the hook does nothing
    'import importlib.util as _u; _u.find_spec("tabstudy") and __import__("tabstudy")\n'
)


def install_hook(site_packages: str | None = None) -> str:
    """Write the start-up hook (a ``.pth`` file site.py runs in every interpreter of this
    environment) into ``site_packages`` (default: this interpreter's); return its path."""
    import sysconfig

    directory = site_packages or sysconfig.get_paths()["purelib"]
    path = os.path.join(directory, HOOK_FILE)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(HOOK_LINE)
    os.replace(tmp, path)
    return path
