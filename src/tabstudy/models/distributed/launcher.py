"""The launcher: start the workers, supervise them (:mod:`tabstudy.engines.processes`), read
the chief's outputs, and the hook the train stage calls (:func:`fit_core`)."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import keras

from tabstudy.engines import processes
from tabstudy.models import keras_model
from tabstudy.models.distributed.cluster import (
    port_taken,
    tf_configs,
    threads_per_worker,
    worker_env,
)
from tabstudy.models.distributed.job import (
    CoreArgs,
    FitSettings,
    MultiWorkerResult,
    WorkerFailed,
    read_outputs,
    write_inputs,
)
from tabstudy.models.keras_model import Encoded

DEFAULT_TIMEOUT_S = 6 * 3600.0
STDERR_TAIL_LINES = 30
PORT_ATTEMPTS = 3  # new free ports when a worker could not bind its own


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
