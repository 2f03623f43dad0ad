"""What determinism costs, measured side by side in one run: op determinism, and the portable
numerics (:mod:`tabstudy.numerics`: results that do not depend on the CPU or the core count).

Neither can be switched off again inside a process, so every measurement is a fresh process, the
modes alternating (``--reps`` rounds):

* ``epochs``: one epoch of the core network on the cached training examples (the pipeline's own
  path), op determinism on and off (both with the portable numerics); the first epoch (cache
  fill, tracing) left out.
* ``stages``: the ``tune`` and ``train`` stages of the study, run by the pipeline's runner in a
  scratch copy of the workspace (its params, processed data and tuned hyperparameters),
  portable numerics and native (``TABSTUDY_NUMERICS=native``: oneDNN on, every ISA, the
  libraries' own thread counts). Wall seconds of the whole stage.
* ``serving``: the p50 of one-row predictions of each runtime the service can use (SavedModel,
  LiteRT, ONNX Runtime, ``auto``), portable and native, after warm-up.

Run after ``make repro`` (it needs the processed data and the bundle). Prints each series and
the ratios; timings are wall clock on a shared machine: compare ratios of one run.

Usage: .venv/bin/python benchmarks/determinism.py [--reps 1] [--parts epochs,stages,serving]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("portable", "native")
RUNTIMES = ("saved_model", "litert", "onnx", "auto")
STAGES = ("tune", "train")


def child_env(mode: str, **extra: str) -> dict[str, str]:
    """This environment for a child process in ``mode`` (the start-up hook applies it)."""
    from tabstudy import numerics

    env = numerics.native_env(os.environ) if mode == "native" else dict(os.environ)
    if mode == "portable":
        env.pop(numerics.SWITCH, None)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", WANDB_MODE="disabled", **extra)
    return env


def worker_epochs(deterministic: bool, epochs: int, batch_size: int) -> dict:
    """Seconds of each epoch after the first (see the module docstring)."""
    import keras
    import pandas as pd

    from tabstudy import paths, spec
    from tabstudy.models import keras_model as km

    if deterministic:
        km.set_determinism(0)
    else:
        keras.utils.set_random_seed(0)
    train = pd.read_parquet(paths.processed("train"))
    pre = km.build_preprocessor(train, spec.load_spec())
    model = km.build_core(
        km.vocab_sizes(pre), km.numeric_width(pre), km.Hyperparameters(), float(train["y"].mean())
    )
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            times.append(time.perf_counter() - self.t)

    examples = km.encoded_examples(paths.processed("train"), pre)
    km.fit_examples(
        model, examples, None, batch_size, 0, epochs=epochs, verbose=0, callbacks=[Timer()]
    )
    return {"seconds": times[1:]}


def worker_serving(calls: int) -> dict:
    """p50 milliseconds of one-row predictions per runtime over the workspace bundle."""
    import numpy as np
    import pandas as pd

    from tabstudy import paths
    from tabstudy.models.bundle import load_bundle
    from tabstudy.serving.runtime import load_runtime

    bundle = load_bundle(paths.bundle_dir())
    test = pd.read_parquet(paths.processed("test")).head(calls)
    rows = [{f.name: test[f.name].to_numpy()[i : i + 1] for f in bundle.spec.features}
            for i in range(calls)]  # fmt: skip
    out = {}
    for name in RUNTIMES:
        runtime = load_runtime(name, bundle)
        for row in rows[:20]:  # warm-up
            runtime.predict(row)
        times = []
        for row in rows:
            t = time.perf_counter()
            runtime.predict(row)
            times.append(time.perf_counter() - t)
        out[name] = 1000 * float(np.median(times))
    return out


def scratch_workspace(dest: Path) -> Path:
    """The files a stage run needs, copied from the workspace: tracked sources, params, the
    processed data and the tuned hyperparameters (outputs land in ``dest``, not here)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\0")  # fmt: skip
    for rel in [*filter(None, files), "models/best_hparams.json"]:
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    shutil.copytree(ROOT / "data" / "processed", dest / "data" / "processed")
    return dest


def time_stages(mode: str, work: Path) -> dict:
    """Wall seconds of each of :data:`STAGES` in ``work`` (the tuner starts afresh)."""
    out = {}
    for stage in STAGES:
        shutil.rmtree(work / ".cache" / "tuner", ignore_errors=True)
        t = time.perf_counter()
        env = child_env(mode, TABSTUDY_WORKDIR=str(work))
        cmd = [sys.executable, "-m", "tabstudy.pipeline.runner", stage]
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        out[stage] = time.perf_counter() - t
    return out


def run_worker(mode: str, *args: str) -> dict:
    """A fresh ``--worker`` process in ``mode``; its JSON result."""
    cmd = [sys.executable, __file__, "--worker", *args]
    done = subprocess.run(cmd, env=child_env(mode), capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio_line(label: str, series: dict[str, list[float]], unit: str) -> str:
    """``label: portable X, native Y -> Z x`` on the medians of ``series``."""
    on, off = (statistics.median(series[m]) for m in MODES)
    return (
        f"{label:<24} portable {on:8.3f} {unit}  native {off:8.3f} {unit}  ratio {on / off:5.2f}x"
    )


def bench_epochs(reps: int, epochs: int, batch_size: int) -> None:
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(reps):
        for det in ("on", "off"):
            res = run_worker("portable", "epochs", det, str(epochs), str(batch_size))
            seconds[det] += res["seconds"]
    print(f"epoch seconds, op determinism on : {[round(s, 2) for s in seconds['on']]}")
    print(f"epoch seconds, op determinism off: {[round(s, 2) for s in seconds['off']]}")
    on, off = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    print(f"median epoch: on {on:.2f} s, off {off:.2f} s -> op determinism costs {on / off:.2f}x")


def bench_stages(reps: int) -> None:
    series: dict[str, dict[str, list[float]]] = {s: {m: [] for m in MODES} for s in STAGES}
    with tempfile.TemporaryDirectory() as tmp:
        work = scratch_workspace(Path(tmp))
        for _ in range(reps):
            for mode in MODES:
                for stage, seconds in time_stages(mode, work).items():
                    series[stage][mode].append(seconds)
    for stage in STAGES:
        print(ratio_line(f"stage {stage}", series[stage], "s"))


def bench_serving(reps: int, calls: int) -> None:
    series: dict[str, dict[str, list[float]]] = {r: {m: [] for m in MODES} for r in RUNTIMES}
    for _ in range(reps):
        for mode in MODES:
            for name, ms in run_worker(mode, "serving", str(calls)).items():
                series[name][mode].append(ms)
    for name in RUNTIMES:
        print(ratio_line(f"one row, {name}", series[name], "ms"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--parts", default="epochs,stages,serving")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--worker", nargs="+")
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "epochs":
            result = worker_epochs(rest[0] == "on", int(rest[1]), int(rest[2]))
        else:
            result = worker_serving(int(rest[0]))
        print(json.dumps(result))
        return
    parts = args.parts.split(",")
    if "epochs" in parts:
        bench_epochs(max(args.reps, 2), args.epochs, args.batch_size)
    if "serving" in parts:
        bench_serving(args.reps, args.calls)
    if "stages" in parts:
        bench_stages(args.reps)


if __name__ == "__main__":
    main()
