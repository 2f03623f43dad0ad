"""Every way of running the model, side by side in one run, on the test window.

Runtimes (all over the bundle of the last ``make repro``, raw features in):

* Keras ``predict`` (the usual call; batch 32 by default, here 10,000 for the batch column),
* Keras direct call ``model(x)``,
* the SavedModel ``serve`` signature,
* LiteRT float and LiteRT dynamic-range quantized (the bundle's ``.tflite`` files),
* ONNX Runtime (the bundle's ``model.onnx``: lookups as ONNX-ML ``LabelEncoder`` nodes).

For each: file size, max |Δprobability| and ΔROC AUC against Keras on the whole test window,
p50 latency of one row (``--single`` calls, after warm-up), and rows/s on 10,000-row batches
(``--batches`` calls). Then ``auto``'s crossover: µs a row of LiteRT and the SavedModel at
batch sizes from 64 to 10,000 rows, each size varying by a row or two call to call (the
interpreter reallocates at a new size, as a service's batches make it). The table is printed;
``--json`` also writes it. Timings are wall clock on
a shared machine: compare the rows of one run, not numbers across runs.

Usage: .venv/bin/python benchmarks/inference.py [--single 300] [--batches 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BATCH = 10_000


Predict = Callable[[Mapping[str, np.ndarray]], np.ndarray]
SINGLE, RATE = "p50 1 row (ms)", f"rows/s @{BATCH:,}"


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def runtimes(bundle: Any) -> dict[str, tuple[Predict, int]]:
    """Name -> (predict function over raw feature arrays, bytes of what it loads)."""
    import keras
    import tensorflow as tf

    from tabstudy.models import export
    from tabstudy.serving import runtime

    model = bundle.keras_model()
    kinds = {f.name: f.kind for f in bundle.spec.features}

    def keras_predict(features: Mapping[str, np.ndarray]) -> np.ndarray:
        x = {n: tf.constant(a) for n, a in export.raw_arrays(features, kinds, str).items()}
        rows = len(next(iter(features.values())))
        out = model.predict(x, batch_size=min(BATCH, rows) if rows > 1 else None, verbose=0)
        return np.asarray(out).reshape(-1).astype("float64")

    keras.config.disable_interactive_logging()
    files = {
        "keras call": ("keras", "model.keras"),
        "saved_model": ("saved_model", "saved_model"),
        "litert float": ("litert", export.LITERT_FILE),
        "litert quantized": ("litert_quantized", export.LITERT_QUANTIZED_FILE),
        "onnx runtime": ("onnx", export.ONNX_FILE),
    }
    found = {"keras predict": (keras_predict, _size(bundle.path / "model.keras"))}
    for label, (name, file) in files.items():
        found[label] = (runtime.load_runtime(name, bundle).predict, _size(bundle.path / file))
    return found


def _rows(features: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {n: a[start:stop] for n, a in features.items()}


def single_p50_ms(fn: Predict, features: Mapping[str, np.ndarray], n: int) -> float:
    """Median wall time (ms) of ``n`` one-row calls on different rows (after 5 warm-up calls)."""
    total = len(next(iter(features.values())))
    for i in range(5):
        fn(_rows(features, i, i + 1))
    times = []
    for i in range(n):
        row = _rows(features, (i * 7919) % total, (i * 7919) % total + 1)
        start = time.perf_counter()
        fn(row)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def batch_rows_per_s(fn: Predict, features: Mapping[str, np.ndarray], n: int) -> float:
    """Rows per second over ``n`` calls of :data:`BATCH` rows (after one warm-up call)."""
    total = len(next(iter(features.values())))
    fn(_rows(features, 0, BATCH))
    start = time.perf_counter()
    for i in range(n):
        lo = (i * BATCH) % max(1, total - BATCH)
        fn(_rows(features, lo, lo + BATCH))
    return n * BATCH / (time.perf_counter() - start)


def measure(single: int, batches: int) -> pd.DataFrame:
    """The table of the module docstring."""
    from sklearn.metrics import roc_auc_score

    from tabstudy import paths
    from tabstudy.models.bundle import load_bundle
    from tabstudy.spec import LABEL

    bundle = load_bundle(paths.bundle_dir())
    names = [f.name for f in bundle.spec.features]
    test = pd.read_parquet(paths.processed("test"), columns=[*names, LABEL])
    features = {n: test[n].to_numpy() for n in names}
    labels = test[LABEL].to_numpy()
    found = runtimes(bundle)
    reference = found["keras call"][0](features)
    reference_auc = roc_auc_score(labels, reference)
    rows = []
    for name, (fn, size) in found.items():
        probs = fn(features)
        rows.append(
            {
                "runtime": name,
                "file MB": size / 1e6,
                "max |dp| vs keras": float(np.max(np.abs(probs - reference))),
                "d ROC AUC": float(roc_auc_score(labels, probs) - reference_auc),
                SINGLE: single_p50_ms(fn, features, single),
                RATE: batch_rows_per_s(fn, features, batches),
            }
        )
        print(f"  measured {name}", file=sys.stderr)
    table = pd.DataFrame(rows).set_index("runtime")
    table.attrs["rows"] = len(test)
    return table


CROSSOVER_SIZES = (64, 128, 512, 1_024, 2_000, 4_096, 10_000)


def crossover(calls: int = 12) -> list[str]:
    """µs a row of LiteRT and the SavedModel by batch size (median of ``calls`` calls after
    two, sizes ``n``, ``n + 1``, ``n + 2`` in turn, random windows of the test rows)."""
    from tabstudy import paths
    from tabstudy.models.bundle import load_bundle
    from tabstudy.serving import runtime

    bundle = load_bundle(paths.bundle_dir())
    names = [f.name for f in bundle.spec.features]
    test = pd.read_parquet(paths.processed("test"), columns=names)
    features = {n: test[n].to_numpy() for n in names}
    pair = {"litert": runtime.LiteRuntime(bundle), "saved_model": runtime.SavedModelRuntime(bundle)}
    rng = np.random.default_rng(0)
    lines = []
    for size in CROSSOVER_SIZES:
        per_row = {}
        for name, rt in pair.items():
            runs = []
            for k in range(calls + 2):
                n = size + k % 3
                lo = int(rng.integers(0, len(test) - n))
                start = time.perf_counter()
                rt.predict(_rows(features, lo, lo + n))
                runs.append((time.perf_counter() - start) / n * 1e6)
            per_row[name] = statistics.median(runs[2:])
        faster = min(per_row, key=per_row.__getitem__)
        each = ", ".join(f"{k} {v:.2f} µs/row" for k, v in per_row.items())
        held = _interpreter_mib(bundle, features, size)
        lines.append(f"{size:>6,} rows: {each} ({faster}); a LiteRT interpreter then holds "
                     f"{held:.1f} MiB more than at one row")  # fmt: skip
    return lines


def _interpreter_mib(bundle: Any, features: Mapping[str, np.ndarray], size: int) -> float:
    """Resident MiB one LiteRT interpreter keeps after a call of ``size`` rows, beyond what it
    holds at one row (the mean of four; TFLite's arena does not shrink back). A service keeps
    one interpreter per thread that calls it."""
    import gc

    from tabstudy.models import export

    def resident() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

    blob = (bundle.path / export.LITERT_FILE).read_bytes()
    models = [export.LiteModel(blob, {f.name: f.kind for f in bundle.spec.features})
              for _ in range(4)]  # fmt: skip
    for m in models:
        m.predict(_rows(features, 0, 1))
    gc.collect()
    start = resident()
    for m in models:
        m.predict(_rows(features, 0, size))
    gc.collect()
    return (resident() - start) / len(models)


def summary(table: pd.DataFrame) -> list[str]:
    """The fastest runtimes, as ratios to Keras ``predict`` measured in this run."""
    base = table.loc["keras predict"]
    single, batch = table[SINGLE].idxmin(), table[RATE].idxmax()
    exact = table[table["max |dp| vs keras"] <= 1e-5]
    return [
        f"fastest one row: {single} ({base[SINGLE] / table.loc[single, SINGLE]:,.0f}x keras "
        "predict)",
        f"fastest batch: {batch} ({table.loc[batch, RATE] / base[RATE]:.1f}x keras predict)",
        f"fastest within 1e-5 of keras: one row {exact[SINGLE].idxmin()}, "
        f"batch {exact[RATE].idxmax()}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=300, help="one-row calls per runtime")
    parser.add_argument("--batches", type=int, default=10, help="10,000-row calls per runtime")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    table = measure(args.single, args.batches)
    print(f"\nInference on the test window ({table.attrs['rows']:,} rows), one run:\n")
    with pd.option_context(
        "display.float_format", "{:,.6g}".format, "display.width", 200, "display.max_columns", 20
    ):
        print(table)
    print()
    for line in summary(table):
        print(line)
    print(f"\nauto's crossover (LiteRT up to {_small_batch():,} rows, the SavedModel above):")
    for line in crossover():
        print(line)
    if args.json:
        args.json.write_text(json.dumps(table.reset_index().to_dict("records"), indent=1))


def _small_batch() -> int:
    from tabstudy.serving.runtime import SMALL_BATCH

    return SMALL_BATCH


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
