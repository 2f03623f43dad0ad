"""The cluster on this machine: one ``TF_CONFIG`` per worker (127.0.0.1, free ports), the
workers' environment and threads, and the one failure the launcher retries (a port taken)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tabstudy
from tabstudy.engines import processes
from tabstudy.models.distributed.job import WorkerFailed

LOOPBACK = "127.0.0.1"
_PROXY_VARS = ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")


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
    src = str(Path(tabstudy.__file__).resolve().parents[1])  # the directory holding tabstudy/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env["TF_CONFIG"] = json.dumps(dict(config))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    return env


def threads_per_worker(workers: int) -> int:
    """CPU cores this process may use, shared between the workers (at least one each)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere all cores
    cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    return max(1, cores // workers)


def port_taken(err: WorkerFailed) -> bool:
    """Whether a worker failed because its port was taken between choosing and binding it."""
    return any(s in err.stderr_tail for s in ("Could not start gRPC server", "Failed to add port"))
