"""Data-parallel training of the core network: ``tf.distribute.MultiWorkerMirroredStrategy``
across worker processes on this machine (``train.distribute: multi_worker``).

How it works:

* :func:`train_multi_worker` (the launcher) writes the encoded splits (one ``.npz`` each) and a
  job file to a private directory, starts ``workers`` processes
  ``python -m tabstudy.models.distributed --job JOB`` with their own ``TF_CONFIG``
  (:func:`tf_configs`: 127.0.0.1, a free port each), waits (bounded by a timeout) and, when one
  fails, kills the others and raises :class:`WorkerFailed` naming it. It then loads the chief's
  weights into a core built in the caller's process.
* Each worker (:func:`worker_main`) creates the strategy *first*, seeds, builds and compiles the
  core under ``strategy.scope()`` and fits. Every worker holds a full replica; each step the
  gradients of all workers are all-reduced (summed; ring collectives over gRPC on CPU), so all
  replicas apply the same update. No parameter server.
* Sharding (explicit, :func:`worker_batches` through ``distribute_datasets_from_function``):
  every worker shuffles the row indices with the same seed, in the same order as the
  single-process :func:`keras_model.batches`, cuts them into *global* batches of the tuned batch
  size and keeps its own contiguous slice of each (``ceil(b / N)`` rows). So the global batch
  (per-replica batch × workers) equals the tuned batch size and step ``k`` of a multi-worker run
  sees exactly the rows of step ``k`` of a single-process run; Keras divides each replica's mean
  loss by the number of replicas and the gradients are summed, which gives the gradient of the
  global-batch mean. (DATA auto-sharding of the global-batched dataset would split it the same
  way; the explicit split lets every worker count what it saw without collectives, and makes
  the split a tested function rather than a rewrite inside tf.data.)
* Validation batches are split the same way; epoch-end metrics are read in cross-replica
  context, which all-reduces the metric states, so every worker logs the same global
  ``val_loss``/``val_auc`` and early stopping and the LR schedule agree on all of them.
* The chief (task 0) writes the weights (early stopping's best) and the history atomically;
  every worker writes a report (task index, pid, rows it saw).

Determinism: each worker seeds Keras/TF/NumPy with the job's seed and turns op determinism on.
Two multi-worker runs with the same inputs, seed and worker count on the same machine gave
bit-identical weights and histories in every run measured here (ring all-reduce sums in a fixed
order; ``tests/test_distributed_training.py`` checks it). A multi-worker run is *not*
bit-identical to a single-process run: sums are ordered differently and dropout masks are drawn
per replica (both replicas draw from the same seed state, so the two halves of a batch share a
mask pattern); the validation AUC agrees within a small tolerance (measured on the test's
problem: 0.8765 single, 0.8757 with 2 workers). ``train.distribute: none`` is exactly the
ordinary fit (same weights as ``keras_model.fit_examples``).

Pitfalls met on this stack (TF 2.21, Keras 3.15, CPU):

* Keras 3 ``fit`` under this strategy is broken out of the box (keras-team/keras#20329,
  #20585) and a multi-step loop (``steps_per_execution > 1``) fails: see
  :func:`keras_multi_worker_fixes` and :func:`fit_worker`.
* The gRPC server of a worker binds ``0.0.0.0:PORT`` (all interfaces), not only the loopback
  address ``TF_CONFIG`` names, and has no authentication: on a shared host, firewall it.
* gRPC honours ``http_proxy``/``grpc_proxy``: workers run without them (:func:`worker_env`).
* Chosen ports can be taken before a worker binds them: "Could not start gRPC server"; the
  launcher retries with new ports.
* A worker that dies leaves the others blocked in a collective: the launcher kills them.
* Cost: every step all-reduces the gradients and the step logs over gRPC, one step per call;
  on 2 shared cores, 2 workers took ~22 s against ~2 s in one process for the test's problem
  (process start and tracing included). Data parallelism pays with many cores or machines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import types
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from tabstudy import artifacts
from tabstudy.engines import processes
from tabstudy.models import keras_model
from tabstudy.models.keras_model import Encoded, Hyperparameters

LOOPBACK = "127.0.0.1"
JOB_FILE = "job.json"
WEIGHTS_FILE = "core-weights.npz"
HISTORY_FILE = "history.json"
LABELS_KEY = "__labels__"
DEFAULT_TIMEOUT_S = 6 * 3600.0
STDERR_TAIL_LINES = 30
PORT_ATTEMPTS = 3  # new free ports when a worker could not bind its own
_PROXY_VARS = ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")


class WorkerFailed(RuntimeError):
    """A worker process exited non-zero (or did not finish in time); the others were killed.

    Attributes:
        index: the worker's task index (0 is the chief).
        returncode: its exit status (negative: killed by that signal; None: timed out).
        stderr_tail: the last lines of its stderr.
    """

    def __init__(
        self, index: int, returncode: int | None, stderr_tail: str, note: str = ""
    ) -> None:
        status = "did not finish in time" if returncode is None else f"exited with {returncode}"
        super().__init__(
            f"multi-worker training: worker {index} {status}{note}; the other workers were "
            f"stopped. Last lines of its stderr:\n{stderr_tail}"
        )
        self.index, self.returncode, self.stderr_tail = index, returncode, stderr_tail


@dataclass(frozen=True)
class CoreArgs:
    """What :func:`keras_model.build_core` takes: enough to build the same core in any process."""

    sizes: dict[str, int]
    n_numeric: int
    hparams: Hyperparameters
    positive_rate: float

    def build(self) -> keras.Model:
        """A freshly initialised, compiled core."""
        return keras_model.build_core(self.sizes, self.n_numeric, self.hparams, self.positive_rate)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hparams": dataclasses.asdict(self.hparams)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CoreArgs:
        return cls(
            {str(k): int(v) for k, v in values["sizes"].items()},
            int(values["n_numeric"]),
            Hyperparameters.from_dict(values["hparams"]),
            float(values["positive_rate"]),
        )


@dataclass(frozen=True)
class FitSettings:
    """How the core is fitted: epoch cap, *global* batch size, early-stopping patience, seed."""

    epochs: int
    batch_size: int
    patience: int
    seed: int
    class_weight: tuple[float, float] | None = None
    """Loss weights of class 0 and class 1 (:func:`keras_model.class_weights`); None: equal."""


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker reads: the encoded splits (``.npz``), the core, the fit, the output."""

    train: str
    valid: str
    core: CoreArgs
    fit: FitSettings
    output: str
    threads: int

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "core": self.core.to_dict()}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> WorkerJob:
        raw = json.loads(text)
        return cls(
            raw["train"],
            raw["valid"],
            CoreArgs.from_dict(raw["core"]),
            FitSettings(**raw["fit"]),
            raw["output"],
            int(raw["threads"]),
        )


@dataclass(frozen=True)
class MultiWorkerResult:
    """A finished multi-worker training: the core (in this process), history, worker reports."""

    core: keras.Model
    history: dict[str, list[float]]
    reports: list[dict[str, Any]]


# --- cluster ------------------------------------------------------------------------------------


def tf_configs(workers: int, host: str = LOOPBACK) -> list[dict[str, Any]]:
    """One ``TF_CONFIG`` per worker of a ``workers``-process cluster on ``host`` (free ports);
    entry ``i`` is task ``i`` (task 0 is the chief)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    # every interface: a worker's gRPC server binds 0.0.0.0:PORT whatever host TF_CONFIG names;
    # another process may take a port before the worker binds it (train_multi_worker retries)
    cluster = {"worker": [f"{host}:{port}" for port in processes.free_ports(workers)]}
    return [{"cluster": cluster, "task": {"type": "worker", "index": i}} for i in range(workers)]


def worker_env(config: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: ``base`` (default: this process's) with its ``TF_CONFIG``,
    this package first on ``PYTHONPATH``, no HTTP/gRPC proxy (gRPC would route loopback through
    it) and no stage staging directory (the worker writes only to its private directory)."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k.lower() not in _PROXY_VARS and k != "TABSTUDY_STAGING"
    }
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env["TF_CONFIG"] = json.dumps(dict(config))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    return env


def threads_per_worker(workers: int) -> int:
    """CPU cores this process may use, shared between the workers (at least one each)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere all cores
    cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    return max(1, cores // workers)


# --- data ---------------------------------------------------------------------------------------


def save_encoded(examples: Encoded, path: Path) -> None:
    """Write an encoded split (features and labels) to one ``.npz``."""
    arrays = {n: np.asarray(v) for n, v in examples.features.items()}
    if LABELS_KEY in arrays:
        raise ValueError(f"a feature may not be named {LABELS_KEY!r}")
    with artifacts.atomic_path(path, ".npz", staged=False) as tmp:
        np.savez(tmp, **arrays, **{LABELS_KEY: np.asarray(examples.labels)})


def load_encoded(path: Path) -> Encoded:
    """Read a split written by :func:`save_encoded` (as tensors, like ``encoded_examples``)."""
    import tensorflow as tf

    with np.load(path, allow_pickle=False) as data:
        feats = {n: tf.constant(data[n]) for n in data.files if n != LABELS_KEY}
        return Encoded(feats, tf.constant(data[LABELS_KEY]))


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


# --- the worker ---------------------------------------------------------------------------------


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


def keras_multi_worker_fixes(model: keras.Model, strategy: Any) -> None:
    """Patch two Keras 3 bugs that make ``fit`` fail under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20329, #20585; still in Keras 3.15), on this model instance only.

    1. ``_maybe_symbolic_build`` passes a whole batch (a structure of ``PerReplica`` values) to
       ``strategy.reduce``, which takes one value: "Attempt to convert a value ({...:
       PerReplica...}) with an unsupported type (<class 'dict'>)". The build needs only shapes
       and dtypes, so the patched one builds from the local value of each leaf.
    2. Each step's logs (scalar metric results) are reduced with ``strategy.reduce("MEAN", v,
       axis=0)``: "Invalid reduction dimension 0 for input with 0 dimensions". The patched
       train/test steps return them as shape ``(1,)``, which that reduction averages over the
       workers. (Epoch logs do not come from these: Keras reads the metrics in cross-replica
       context, which all-reduces their states, so they are the global values.)

    Private Keras API: tests/test_keras_guards.py (fast) and the multi-worker test fail loudly if
    an upgrade changes it.
    """
    import tensorflow as tf

    def local(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = next(it)
                break
        with strategy.scope():
            self._symbolic_build(data_batch=keras.tree.map_structure(local, data_batch))

    def rank_one(step: Any) -> Any:
        return lambda data: keras.tree.map_structure(lambda v: tf.reshape(v, [1]), step(data))

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    model.train_step = rank_one(model.train_step)
    model.test_step = rank_one(model.test_step)


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


def save_weights(model: keras.Model, final: Path) -> None:
    """Write ``model.get_weights()`` (in order) to one ``.npz``, atomically. (Not Keras's
    ``.weights.h5``: that also holds the optimizer state, which a core built elsewhere lacks,
    and loading it warns.)"""
    with artifacts.atomic_path(final, ".npz", staged=False) as tmp:
        np.savez(tmp, *model.get_weights())


def load_weights(model: keras.Model, path: Path) -> None:
    """Set ``model``'s weights from a file of :func:`save_weights` (shapes are checked)."""
    with np.load(path, allow_pickle=False) as data:
        model.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])


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


# --- the launcher -------------------------------------------------------------------------------


def worker_command(job_path: Path) -> list[str]:
    """The command line of one worker (this Python, this module)."""
    return [sys.executable, "-m", "tabstudy.models.distributed", "--job", str(job_path)]


def run_workers(
    commands: Sequence[Sequence[str]],
    envs: Sequence[Mapping[str, str]],
    logs: Path,
    timeout_s: float,
    poll_s: float = 0.1,
) -> None:
    """Start one process per command (its own session; stdout and stderr to
    ``logs/worker-I.out|err``), wait for all to exit 0 within ``timeout_s``.

    Raises:
        WorkerFailed: naming the first worker found exited non-zero, or, on timeout, the first
            still running; every other worker is stopped first (SIGTERM, then SIGKILL).
    """
    procs: list[processes.Process] = []
    try:
        for i, (cmd, env) in enumerate(zip(commands, envs, strict=True)):
            procs.append(processes.start(f"worker-{i}", cmd, env, logs))
        deadline = time.monotonic() + timeout_s
        while True:
            codes = [p.poll() for p in procs]
            failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                raise _failure(failed[0], codes, procs)
            if all(c == 0 for c in codes):
                return
            if time.monotonic() > deadline:
                running = [i for i, c in enumerate(codes) if c is None]
                raise WorkerFailed(
                    running[0],
                    None,
                    _tail(procs[running[0]]),
                    f" (timeout {timeout_s:g} s; still running: {running})",
                )
            time.sleep(poll_s)
    finally:
        processes.stop_all(procs)  # no worker outlives this


def _tail(proc: processes.Process) -> str:
    return "\n".join(processes.tail(proc.stderr, STDERR_TAIL_LINES)) or "(empty)"


def _failure(
    index: int, codes: Sequence[int | None], procs: list[processes.Process]
) -> WorkerFailed:
    others = {i: c for i, c in enumerate(codes) if i != index and c not in (None, 0)}
    note = f" (also exited non-zero: {others})" if others else ""
    return WorkerFailed(index, codes[index], _tail(procs[index]), note)


def write_inputs(
    work: Path, core: CoreArgs, train: Encoded, valid: Encoded, fit: FitSettings, threads: int
) -> Path:
    """Write the encoded splits and the job file into ``work``; return the job file."""
    save_encoded(train, work / "train.npz")
    save_encoded(valid, work / "valid.npz")
    job = WorkerJob(str(work / "train.npz"), str(work / "valid.npz"), core, fit, str(work), threads)
    artifacts.write_text(job.to_json(), work / JOB_FILE, staged=False)
    return work / JOB_FILE


def read_outputs(work: Path, core: CoreArgs, workers: int) -> MultiWorkerResult:
    """The chief's weights loaded into a core built here, its history and every report."""
    model = core.build()
    load_weights(model, work / WEIGHTS_FILE)
    history = json.loads((work / HISTORY_FILE).read_text())
    reports = [json.loads((work / f"worker-{i}.json").read_text()) for i in range(workers)]
    return MultiWorkerResult(model, history, reports)


def train_multi_worker(
    core: CoreArgs,
    train: Encoded,
    valid: Encoded,
    fit: FitSettings,
    workers: int = 2,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    workdir: Path | None = None,
) -> MultiWorkerResult:
    """Train the core with ``MultiWorkerMirroredStrategy`` across ``workers`` local processes.

    Args:
        core: how to build the core (each worker and this process build the same one).
        train, valid: the encoded splits (as from ``keras_model.encoded_examples``).
        fit: epochs, *global* batch size (each worker takes ``1 / workers`` of every batch),
            early-stopping patience, seed.
        workers: number of processes (each one replica).
        timeout_s: the whole training must finish within this; otherwise all are killed.
        workdir: where the inputs, outputs and worker logs go (default: a temporary directory,
            removed afterwards).

    Returns:
        The trained core (early stopping's best weights) built in this process, the chief's
        per-epoch history and each worker's report (index, pid, rows seen).

    Raises:
        WorkerFailed: a worker exited non-zero or the run timed out (names the worker, its exit
            status and the tail of its stderr; no worker is left running).
    """
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tabstudy-mw-")))
        workdir.mkdir(parents=True, exist_ok=True)
        job = write_inputs(workdir, core, train, valid, fit, threads_per_worker(workers))
        for attempt in range(1, PORT_ATTEMPTS + 1):
            envs = [worker_env(c) for c in tf_configs(workers)]
            try:
                run_workers([worker_command(job)] * workers, envs, workdir, timeout_s)
                break
            except WorkerFailed as err:
                if attempt == PORT_ATTEMPTS or not port_taken(err):
                    raise
        return read_outputs(workdir, core, workers)


def port_taken(err: WorkerFailed) -> bool:
    """Whether a worker failed because its port was taken between choosing and binding it."""
    return any(s in err.stderr_tail for s in ("Could not start gRPC server", "Failed to add port"))


# --- the hook for the train stage ---------------------------------------------------------------


def fit_core(
    distribute: Literal["none", "multi_worker"],
    workers: int,
    core: keras.Model,
    args: CoreArgs,
    train: Encoded,
    valid: Encoded,
    fit: FitSettings,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> keras.callbacks.History:
    """Fit ``core`` (built from ``args``) with early stopping, in this process or across workers.

    ``"none"``: :func:`keras_model.fit_examples` in this process (exactly the train stage's
    ordinary fit). ``"multi_worker"``: :func:`train_multi_worker` with ``workers`` processes;
    the trained weights are then loaded into ``core``, and each of ``callbacks`` has its
    ``on_epoch_end`` called afterwards with each epoch's logs (the callbacks cannot run inside
    the workers). Either way ``core`` ends with early stopping's best weights and the returned
    ``History`` has the per-epoch metrics in ``.history``.
    """
    if distribute == "none":
        return keras_model.fit_examples(
            core,
            train,
            valid,
            fit.batch_size,
            fit.seed,
            epochs=fit.epochs,
            callbacks=[*keras_model.training_callbacks(fit.patience), *callbacks],
            class_weight=keras_model.keras_class_weight(fit.class_weight),
            verbose=0,
        )
    if distribute != "multi_worker":
        raise ValueError(f"train.distribute must be 'none' or 'multi_worker', got {distribute!r}")
    result = train_multi_worker(args, train, valid, fit, workers, timeout_s)
    core.set_weights(result.core.get_weights())
    return replay_history(result.history, callbacks)


def replay_history(
    history: Mapping[str, list[float]], callbacks: Sequence[keras.callbacks.Callback]
) -> keras.callbacks.History:
    """A ``History`` holding ``history``, after calling each callback's ``on_epoch_end`` with
    every epoch's logs in order."""
    epochs = len(next(iter(history.values()), []))
    for epoch in range(epochs):
        logs = {k: v[epoch] for k, v in history.items()}
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
    out = keras.callbacks.History()
    out.history, out.epoch = {k: list(v) for k, v in history.items()}, list(range(epochs))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
