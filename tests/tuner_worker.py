"""A small keras-tuner search in its own process, for the resume and memory tests.

``python tests/tuner_worker.py WORKDIR TRIALS [KILL_AT]``: searches TRIALS trials on a synthetic
Parquet split in WORKDIR, appending one line per trial training to WORKDIR/trainings.txt and the
process RSS (MiB) at each trial's end to WORKDIR/rss.txt. With KILL_AT, the process SIGKILLs
itself when the KILL_AT-th training starts (an interruption nobody can clean up after).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from tabstudy import config
from tabstudy.models import keras_model, tuning
from tabstudy.spec import LABEL, Feature, FeatureSet


class Probe(keras.callbacks.Callback):
    def __init__(self, work: Path, kill_at: int | None) -> None:
        super().__init__()
        self.work, self.kill_at = work, kill_at

    def on_train_begin(self, logs=None) -> None:
        with open(self.work / "trainings.txt", "a") as fh:
            fh.write("trained\n")
        count = len((self.work / "trainings.txt").read_text().splitlines())
        if self.kill_at is not None and count >= self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_end(self, logs=None) -> None:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        with open(self.work / "rss.txt", "a") as fh:
            fh.write(f"{pages * os.sysconf('SC_PAGE_SIZE') / 2**20:.1f}\n")


def main() -> None:
    work, trials = Path(sys.argv[1]), int(sys.argv[2])
    kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {"c": rng.choice(["a", "b", "c"], n).astype(object), "x": rng.normal(size=n)}
    )
    frame[LABEL] = ((frame["x"] + (frame["c"] == "a")) > 0.5).astype("int8")
    path = work / "train.parquet"
    if not path.exists():
        frame.to_parquet(path)
    spec = FeatureSet(
        (Feature("c", "categorical", "t", "", ""), Feature("x", "numeric", "t", "", ""))
    )
    cfg = config.TuneConfig(
        max_trials=trials, epochs=2, batch_size=[64, 128], units=[8, 16, 32], max_layers=2,
        embedding_dim=[2, 4], min_layers=1, dropout_max=0.3, lr_min=1e-4, lr_max=1e-2, workers=2,
        initial_points=trials, min_steps=0,
    )  # fmt: skip
    keras_model.set_determinism(0)
    pre = keras_model.build_preprocessor(frame, spec)
    examples = keras_model.encoded_examples(path, pre)
    model = tuning.CoreHyperModel(
        cfg, keras_model.vocab_sizes(pre), keras_model.numeric_width(pre), 0.5, 0
    )
    tuner = tuning.make_tuner(model, cfg, 0, work / "tuner")
    tuning.search(tuner, examples, examples, cfg, callbacks=[Probe(work, kill_at)])
    table = tuning.trials_table(tuner, cfg.initial_points)
    table.to_csv(work / "trials.csv", index=False)


if __name__ == "__main__":
    main()
