"""Several worker processes on one listening socket, forked after the read-only state is loaded.

:func:`serve` binds the socket, lets the caller load what every worker shares read-only (the
modules, the online store), calls :func:`gc.freeze` (the collector then never touches the
preloaded objects, so their pages stay shared copy-on-write) and forks ``workers`` children. Each
child runs its own uvicorn server and event loop on the inherited socket; the kernel spreads the
connections. The parent only supervises:

- SIGTERM or SIGINT is passed on to every worker; each drains its requests and its request log
  (uvicorn's graceful shutdown) and the parent exits 0 once all have;
- a worker that dies while the service runs is forked again from the same preloaded state,
  under the same index (so it appends to the same request-log file); one that dies
  :data:`MAX_RESTARTS` times within :data:`RESTART_WINDOW_S` seconds stops the service
  (exit 1): a crash loop is a bug, not load.

:class:`Shared` is the anonymous shared memory the workers see (made before the fork): the
generation counter and acknowledgements a reload goes through (one worker reloads and bumps the
generation; the others notice within :data:`POLL_S` seconds and load the same registry state),
and the arrays behind the array histograms (:mod:`.histogram`), one row per worker so no two
processes ever write the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
import math
import mmap
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

POLL_S = 0.1
"""How often a worker looks at the reload generation."""
MAX_RESTARTS = 3
RESTART_WINDOW_S = 30.0
FAILED = -1
"""A worker's acknowledgement when its reload failed (it still serves the previous models)."""


class Shared:
    """Memory shared by the service's worker processes, allocated before they are forked:
    the reload generation, one acknowledgement per worker, and float arrays for metrics.
    ``worker`` is this process's index (each child sets its own after the fork)."""

    def __init__(self, workers: int, floats: int = 1 << 16) -> None:
        self.workers = workers
        self.worker = 0
        ints = 1 + 2 * workers
        self._memory = mmap.mmap(-1, 8 * (ints + floats))  # MAP_SHARED | MAP_ANONYMOUS
        self.generation = np.frombuffer(self._memory, dtype=np.int64, count=1)
        self.acks = np.frombuffer(self._memory, dtype=np.int64, count=workers, offset=8)
        self.failed = np.frombuffer(self._memory, dtype=np.int64, count=workers,
                                    offset=8 * (1 + workers))  # fmt: skip
        self._floats = np.frombuffer(self._memory, dtype=np.float64, offset=8 * ints)
        self._used = 0
        self._lock = multiprocessing.get_context("fork").Lock()

    def floats(self, *shape: int) -> np.ndarray:
        """A zeroed float64 array of ``shape`` in the shared memory (call before the fork)."""
        size = int(np.prod(shape))
        if self._used + size > len(self._floats):
            raise ValueError(f"shared memory for metrics is full ({len(self._floats):,} floats)")
        out = self._floats[self._used : self._used + size].reshape(shape)
        self._used += size
        return out

    def bump(self) -> int:
        """The next reload generation (this worker has loaded it: acknowledged)."""
        with self._lock:
            self.generation[0] += 1
            generation = int(self.generation[0])
        self.acks[self.worker] = generation
        return generation

    def acknowledge(self, generation: int, ok: bool) -> None:
        """This worker loaded ``generation`` (``ok``), or failed to and serves the old models."""
        if not ok:
            self.failed[self.worker] = generation
        self.acks[self.worker] = generation

    def wait(self, generation: int, timeout_s: float) -> tuple[list[int], list[int]]:
        """Wait until every worker acknowledged ``generation`` (or ``timeout_s`` passed): the
        indices of the workers that failed to load it, and of those that did not answer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (self.acks < generation).any():
            time.sleep(0.01)
        failed = [int(i) for i in np.flatnonzero(self.failed == generation)]
        late = [int(i) for i in np.flatnonzero(self.acks < generation)]
        return failed, late


def serve(
    sock: socket.socket,
    workers: int,
    shared: Shared,
    run: Callable[[socket.socket], None],
) -> int:
    """Fork ``workers`` children that each call ``run(sock)`` (see the module docstring);
    return the exit status once all have stopped."""
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}  # pid -> worker index
    restarts: dict[int, list[float]] = {i: [] for i in range(workers)}
    stopping = [False]

    def stop(signum: int, frame: Any) -> None:
        stopping[0] = True
        for pid in list(children):
            _kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        children[_fork(i, sock, shared, run)] = i
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None or stopping[0]:
            continue
        now = time.monotonic()
        recent = [t for t in restarts[index] if now - t < RESTART_WINDOW_S] + [now]
        restarts[index] = recent
        print(f"worker {index} (pid {pid}) exited ({_describe(code)})", file=sys.stderr)
        if len(recent) > MAX_RESTARTS:
            print(f"worker {index} died {len(recent)} times within {RESTART_WINDOW_S:.0f} s: "
                  "stopping the service", file=sys.stderr)  # fmt: skip
            status = 1
            stop(signal.SIGTERM, None)
            continue
        children[_fork(index, sock, shared, run)] = index
    return status


def _fork(
    index: int, sock: socket.socket, shared: Shared, run: Callable[[socket.socket], None]
) -> int:
    """Start worker ``index``: a child process that runs ``run(sock)`` and exits."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        shared.worker = index
        run(sock)
        code = 0
    except BaseException as err:
        print(f"worker {index}: {type(err).__name__}: {err}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(code: int) -> str:
    """A wait status in words."""
    if os.WIFSIGNALED(code):
        return f"killed by {signal.Signals(os.WTERMSIG(code)).name}"
    return f"exit status {os.WEXITSTATUS(code)}"


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that forked children inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2's CPU quota of this process's group (``max 100000`` when unlimited)."""


def cores(cpu_max: Path = CPU_MAX) -> int:
    """The cores this process may use: the CPUs it may run on, or fewer when its cgroup has
    a CPU quota (a container run with ``--cpus 2`` on a 64-core host sees 64 CPUs; 64 workers
    would each load the models into memory it does not have)."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return count
    if quota == "max":
        return count
    return max(1, min(count, math.ceil(int(quota) / int(period))))
