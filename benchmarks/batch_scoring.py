"""``make score`` against Keras ``model.predict`` on the whole DataFrame, side by side in one run.

Both score the test window's flights of the last ``make repro`` (53,991 with the full profile):

* ours: :func:`tabstudy.serving.batch.score_file` over a Parquet file of the schedule fields a
  request carries (:func:`tabstudy.studies.flights.online.request_table`): read in chunks,
  validated, point-in-time features from the online store, the ``score.runtime`` model, the
  answers written to Parquet. Model loading is outside the timing (it is once per run).
* ``model.predict``: the bundle's Keras model on the whole processed test DataFrame (the
  features already computed: it gets them for free), with Keras' default batch size (32) and
  with batches of 10,000.

Prints rows/s of each and the ratios. Usage: .venv/bin/python benchmarks/batch_scoring.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def keras_predict_rate(batch_size: int | None) -> tuple[float, int]:
    """Rows/s of ``model.predict`` on the processed test split (``None``: Keras' default)."""
    import keras
    import tensorflow as tf

    from tabstudy import paths
    from tabstudy.models import export
    from tabstudy.models.bundle import load_bundle

    bundle = load_bundle(paths.bundle_dir())
    kinds = {f.name: f.kind for f in bundle.spec.features}
    frame = pd.read_parquet(paths.processed("test"), columns=list(kinds))
    model = bundle.keras_model()
    keras.config.disable_interactive_logging()
    start = time.perf_counter()
    x = {n: tf.constant(a) for n, a in export.raw_arrays(
        {n: frame[n].to_numpy() for n in kinds}, kinds, str).items()}  # fmt: skip
    model.predict(x, batch_size=batch_size, verbose=0)
    return len(frame) / (time.perf_counter() - start), len(frame)


def ours_rate(work: Path) -> tuple[float, int, str]:
    """Rows/s of ``score_file`` on the test window's flights as request rows."""
    from tabstudy import paths
    from tabstudy.pipeline import score, serve
    from tabstudy.serving import batch
    from tabstudy.studies.flights.online import request_table

    cfg = serve.load_config("score", "serve", "features")
    flights = pd.read_parquet(paths.raw("flights"))
    dates = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
    test = flights[(dates >= cfg.features.split.test_start) & flights["arr_delay"].notna()]
    source = work / "flights.parquet"
    request_table(test).to_parquet(source, index=False)
    model, online = score.load_model(cfg, "workspace", cfg.score.runtime)
    result = batch.score_file(source, work / "out.parquet", online, model, cfg.score.chunk_rows)
    return result.rows / result.seconds, result.rows, model.runtime.name


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, rows, runtime = ours_rate(Path(tmp))
    default, n = keras_predict_rate(None)
    big, _ = keras_predict_rate(10_000)
    print(f"\nBatch scoring of the test window, one run ({rows:,} request rows; "
          f"{n:,} processed rows for predict):\n")  # fmt: skip
    table = pd.DataFrame(
        {
            "rows/s": [ours, default, big],
            "ours / it": [1.0, ours / default, ours / big],
        },
        index=[f"make score ({runtime}, features included)", "model.predict (batch 32)",
               "model.predict (batch 10,000)"],
    )  # fmt: skip
    with pd.option_context("display.float_format", "{:,.1f}".format, "display.width", 160):
        print(table)
    print(f"\nmake score: {np.round(ours / default, 1)}x model.predict on the whole DataFrame "
          f"(Keras' default batch), {np.round(ours / big, 1)}x with batches of 10,000")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
