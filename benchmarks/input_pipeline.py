"""Training throughput (examples per second) of our input pipeline against the naive one, in one
run on the same data, model and batch size.

* **naive**: the processed training split as a pandas-derived dict of arrays into
  ``tf.data.Dataset.from_tensor_slices``, batched at 1024, fitted on the exported model (string
  lookups, imputation and scaling inside the model, so they run on every batch of every epoch);
* **ours**: ``keras_model.encoded_examples`` (Parquet read column-wise, the preprocessor run once
  inside tf.data, the encoded split kept in memory) then ``batches`` (shuffled row indices,
  batched, one ``tf.gather`` per input, prefetched), fitted on the core network compiled with
  ``steps_per_execution`` (several steps per compiled call).

Both models are compiled with the same optimiser, loss and metrics (ROC and PR AUC).

Both train the same architecture with the same seed for the same epochs; the first epoch of ours
includes filling the cache and is reported separately. Run after ``make repro`` (it reads
``data/processed``). Usage: .venv/bin/python benchmarks/input_pipeline.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


class EpochTimer:
    """Wall time of each epoch."""

    def __init__(self) -> None:
        import keras

        outer = self

        class _Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None) -> None:
                outer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None) -> None:
                outer.seconds.append(time.perf_counter() - outer.start)

        self.seconds: list[float] = []
        self.start = 0.0
        self.callback = _Timer()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()

    import pandas as pd
    import tensorflow as tf

    from tabstudy import paths, spec
    from tabstudy.models import keras_model as km

    km.set_determinism(0)
    train_path = paths.processed("train")
    train = pd.read_parquet(train_path)
    n = len(train)
    pre = km.build_preprocessor(train, spec.load_spec())
    hp = km.Hyperparameters(batch_size=args.batch_size)
    rate = float(train[spec.LABEL].mean())

    def core() -> object:
        return km.build_core(km.vocab_sizes(pre), km.numeric_width(pre), hp, rate)

    # naive: raw features every epoch, lookups inside the model
    naive_model = km.export_model(pre, core())
    km.compile_model(naive_model, hp.learning_rate, steps_per_execution=1)  # same loss, metrics
    naive_ds = tf.data.Dataset.from_tensor_slices(
        (km.raw_arrays(train, naive_model), km.labels(train))
    ).batch(args.batch_size)
    naive = EpochTimer()
    naive_model.fit(naive_ds, epochs=args.epochs, verbose=0, callbacks=[naive.callback])

    # ours: encode once into a cache, then shuffle/batch/prefetch
    ours_model = core()
    examples = km.encoded_examples(train_path, pre)
    ours = EpochTimer()
    km.fit_examples(
        ours_model, examples, None, args.batch_size, 0, epochs=args.epochs, verbose=0,
        callbacks=[ours.callback],
    )  # fmt: skip

    naive_rate = n * len(naive.seconds) / sum(naive.seconds)
    ours_all = n * len(ours.seconds) / sum(ours.seconds)
    ours_steady = (
        n * (len(ours.seconds) - 1) / sum(ours.seconds[1:]) if args.epochs > 1 else ours_all
    )
    print(f"rows {n}, batch {args.batch_size}, epochs {args.epochs}")
    print(
        f"naive  epoch seconds {np.round(naive.seconds, 2).tolist()} "
        f"-> {naive_rate:,.0f} examples/s"
    )
    print(
        f"ours   epoch seconds {np.round(ours.seconds, 2).tolist()}  -> {ours_all:,.0f} examples/s "
        f"(all epochs, first fills the cache), {ours_steady:,.0f} examples/s after the first"
    )
    print(
        f"ratio ours/naive: {ours_all / naive_rate:.1f}x over all epochs, "
        f"{ours_steady / naive_rate:.1f}x after the first"
    )


if __name__ == "__main__":
    main()
