"""One worker process (``python -m tabstudy.models.distributed --job JOB``): the strategy
first, its shard of every global batch, the fit, and its outputs."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from tabstudy import artifacts
from tabstudy.models import keras_model
from tabstudy.models.distributed.job import (
    HISTORY_FILE,
    WEIGHTS_FILE,
    FitSettings,
    WorkerJob,
    load_encoded,
    save_weights,
)
from tabstudy.models.distributed.keras_fixes import keras_multi_worker_fixes
from tabstudy.models.keras_model import Encoded


def worker_batches(
    examples: Encoded, global_batch: int, worker: int, workers: int, seed: int | None = None
) -> Any:
    """Worker ``worker``'s part of the global batches of ``examples``, as ``tf.data``.

    Row indices are shuffled (``seed``: as :func:`keras_model.batches` does, the same order on
    every worker) and cut into batches of ``global_batch``; this worker keeps rows
    ``[worker * m, (worker + 1) * m)`` of each, ``m = ceil(size / workers)``. Over all workers
    the parts are exactly the single-process batches. A last batch smaller than ``workers``
    leaves some workers an empty part; Keras trains through that (zero loss and gradient on
    that replica; checked with 513 rows, batch 256, 2 workers: finite weights, replicas equal).
    """
    import tensorflow as tf

    index = tf.data.Dataset.range(len(examples))
    if seed is not None:
        index = index.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    feats, labels = examples.features, examples.labels

    def part(rows: Any) -> Any:
        m = (tf.shape(rows, out_type=tf.int64)[0] + workers - 1) // workers
        return rows[worker * m : (worker + 1) * m]

    def gather(i: Any) -> Any:
        return {n: tf.gather(v, i) for n, v in feats.items()}, tf.gather(labels, i)

    parts = index.batch(global_batch).map(part).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return parts.prefetch(tf.data.AUTOTUNE)


def rows_seen(dataset: Any) -> int:
    """Rows in one pass over a dataset of ``(features, labels)`` batches."""
    return int(sum(int(y.shape[0]) for _, y in dataset))


def distributed_batches(
    strategy: Any, examples: Encoded, global_batch: int, seed: int | None
) -> Any:
    """:func:`worker_batches` for this worker, through ``distribute_datasets_from_function``."""

    def make(ctx: Any) -> Any:
        if ctx.num_replicas_in_sync != ctx.num_input_pipelines:
            raise ValueError("one replica per worker expected (a CPU worker has one)")
        pipe, pipes = ctx.input_pipeline_id, ctx.num_input_pipelines
        return worker_batches(examples, global_batch, pipe, pipes, seed)

    return strategy.distribute_datasets_from_function(make)


def fit_worker(
    strategy: Any, job: WorkerJob, train: Encoded, valid: Encoded
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Build and compile the core under the strategy and fit it on this worker's shards."""
    with strategy.scope():
        core = job.core.build()
        # One step per compiled call: Keras's multi-step loop (steps_per_execution > 1) puts the
        # collectives inside tf.cond in a tf.while_loop, which fails under this strategy ("You
        # must feed a value for placeholder tensor ..."). The arithmetic is the same.
        keras_model.compile_model(core, job.core.hparams.learning_rate, steps_per_execution=1)
    keras_multi_worker_fixes(core, strategy)
    fit = job.fit
    history = core.fit(
        distributed_batches(strategy, train, fit.batch_size, fit.seed),
        validation_data=distributed_batches(strategy, valid, fit.batch_size, None),
        epochs=fit.epochs,
        callbacks=keras_model.training_callbacks(fit.patience),
        class_weight=keras_model.keras_class_weight(fit.class_weight),
        shuffle=False,  # the pipeline shuffles (seeded), as in keras_model.fit_examples
        verbose=0,
    )
    return core, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def worker_report(
    fit: FitSettings,
    index: int,
    workers: int,
    splits: tuple[Encoded, Encoded],
    core: keras.Model,
    history: Mapping[str, Any],
) -> dict[str, Any]:
    """What a worker tells the launcher: who it was, how many rows of each split it saw (one
    epoch of its own pipeline, counted locally), its history and a digest of its replica's
    weights (equal on every worker when the gradient all-reduce kept the replicas in step)."""
    (train, valid), b, seed = splits, fit.batch_size, fit.seed
    return {
        "index": index,
        "workers": workers,
        "pid": os.getpid(),
        "train_rows": len(train),
        "train_rows_seen_per_epoch": rows_seen(worker_batches(train, b, index, workers, seed)),
        "valid_rows_seen": rows_seen(worker_batches(valid, b, index, workers)),
        "epochs_run": len(history.get("loss", [])),
        "weights_sha256": keras_model.weights_digest(core),
        "history": dict(history),
    }


def save_outputs(core: keras.Model, index: int, report: dict, output: Path) -> None:
    """Every worker writes its report; the chief (task 0) also writes the weights and the
    history, atomically. The others write no weights: ``get_weights`` reads this worker's copy of
    the mirrored variables (identical on every worker) and takes part in no collective, so the
    TF docs' "non-chief saves to a temporary directory" dance is not needed."""
    artifacts.write_text(json.dumps(report), output / f"worker-{index}.json", staged=False)
    if index == 0:
        save_weights(core, output / WEIGHTS_FILE)
        artifacts.write_text(json.dumps(report["history"]), output / HISTORY_FILE, staged=False)


def worker_main(job_path: Path) -> None:
    """A worker's whole run. ``MultiWorkerMirroredStrategy`` is created before any other TF op
    (TF requires it at program start); only the thread pool size is configured before it."""
    import tensorflow as tf

    job = WorkerJob.from_json(Path(job_path).read_text())
    tf.config.threading.set_intra_op_parallelism_threads(job.threads)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    keras_model.set_determinism(job.fit.seed)
    resolver = strategy.cluster_resolver
    index, workers = int(resolver.task_id), resolver.cluster_spec().num_tasks("worker")
    splits = load_encoded(Path(job.train)), load_encoded(Path(job.valid))
    core, history = fit_worker(strategy, job, *splits)
    report = worker_report(job.fit, index, workers, splits, core, history)
    save_outputs(core, index, report, Path(job.output))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tabstudy.models.distributed --job JOB.json`` (with ``TF_CONFIG`` set)."""
    parser = argparse.ArgumentParser(description="One worker of a multi-worker training.")
    parser.add_argument("--job", type=Path, required=True, help="job file from the launcher")
    args = parser.parse_args(argv)
    if "TF_CONFIG" not in os.environ:
        parser.error("TF_CONFIG is not set (start workers with train_multi_worker)")
    worker_main(args.job)
    return 0
