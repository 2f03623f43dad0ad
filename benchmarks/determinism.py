"""What TensorFlow op determinism costs in training time, measured side by side in one run.

Determinism cannot be switched off again in a process, so each measurement is a fresh process:
``--reps`` pairs, alternating on/off, each training the core network for ``--epochs`` epochs on
the cached training examples (the pipeline's own path) with the same seed. The first epoch
(cache fill, graph tracing) is left out of the timing. Run after ``make repro``.

Usage: .venv/bin/python benchmarks/determinism.py [--reps 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def worker(deterministic: bool, epochs: int, batch_size: int) -> None:
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
    print(json.dumps({"seconds": times[1:], "rows": len(train)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--worker", choices=["on", "off"])
    args = parser.parse_args()
    if args.worker:
        worker(args.worker == "on", args.epochs, args.batch_size)
        return
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(args.reps):
        for mode in ("on", "off"):
            cmd = [sys.executable, __file__, "--worker", mode, "--epochs", str(args.epochs)]
            cmd += ["--batch-size", str(args.batch_size)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            seconds[mode] += json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    on, off = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    print(f"epoch seconds, determinism on : {[round(s, 2) for s in seconds['on']]}")
    print(f"epoch seconds, determinism off: {[round(s, 2) for s in seconds['off']]}")
    lo_on, lo_off = min(seconds["on"]), min(seconds["off"])
    print(f"median epoch: on {on:.2f} s, off {off:.2f} s -> determinism costs {on / off:.2f}x")
    print(f"fastest epoch: on {lo_on:.2f} s, off {lo_off:.2f} s -> ratio {lo_on / lo_off:.2f}x")


if __name__ == "__main__":
    main()
