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


The modules: :mod:`.job` (what goes to the workers and back), :mod:`.cluster`, :mod:`.worker`,
:mod:`.keras_fixes` and :mod:`.launcher`.
"""

from tabstudy.models.distributed import cluster, job, keras_fixes, launcher, worker

__all__ = ["cluster", "job", "keras_fixes", "launcher", "worker"]
