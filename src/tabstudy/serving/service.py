"""The service's life: the state it answers with (loaded in the lifespan, swapped on a
reload), which worker process this is, and how a reload reaches the other workers."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from tabstudy.serving import workers
from tabstudy.serving.metrics import Metrics
from tabstudy.serving.state import ServeSettings, State

RELOAD_WAIT_S = 60.0
"""How long a reload waits for the other workers to load the new models."""


class ReloadFailed(Exception):
    """A reload that did not take (the message says why and what still answers)."""


class Service:
    """One worker's service: ``settings``, its metrics and the :class:`State` in use;
    ``shared``: one of several worker processes (:mod:`.workers`), whose metrics and reloads
    it shares."""

    def __init__(self, settings: ServeSettings, shared: workers.Shared | None = None) -> None:
        self.settings, self.shared = settings, shared
        self.metrics = Metrics(shared)
        self.current: State | None = None
        self.served = 0
        """The reload generation this worker serves (several workers)."""
        self._reloading = threading.Lock()

    def state(self) -> State:
        """The state answering now (set before the server listens)."""
        assert self.current is not None
        return self.current

    def index(self) -> int:
        """This process's worker index (set in each forked child)."""
        return self.shared.worker if self.shared else 0

    def load(self, old: State | None) -> State:
        """A new state beside ``old`` (its request log kept), warmed up; swapped in."""
        with self._reloading:
            new = State(self.settings, log=old.log if old else None, worker=self.index())
            new.warm_up()
            new.ready = True
            self.current = new
            self.metrics.reference_positive.set(new.reference_positive_share)
            self.metrics.known(new)
            return new

    async def follow(self, seen: int) -> None:
        """Another worker reloaded (the shared generation moved): load the same, acknowledge."""
        shared = self.shared
        assert shared is not None
        while True:
            await asyncio.sleep(workers.POLL_S)
            generation = int(shared.generation[0])
            if generation == seen:
                continue
            seen = generation
            if shared.acks[self.index()] >= generation:  # this worker's own reload
                continue
            try:
                await asyncio.to_thread(self.load, self.current)
                ok = True
            except Exception:
                ok = False
            self.metrics.reloads.labels("ok" if ok else "failed").inc()
            if ok:
                self.served = generation
            shared.acknowledge(generation, ok)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Load (a failure stops the server before it listens), freeze what was loaded out of
        the cyclic collector's sight, follow the other workers' reloads; on the way out close
        the request log (its queue drained: no line lost)."""
        shared = self.shared
        seen = int(shared.generation[0]) if shared else 0
        self.served = seen
        self.load(None)
        gc.collect()
        gc.freeze()  # what start-up loaded lives as long as the process: the GC skips it
        following = None
        if shared is not None:
            shared.acknowledge(seen, True)
            following = asyncio.create_task(self.follow(seen))
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
            self.state().ready = False
            self.state().log.close()

    def reload(self) -> dict[str, Any]:
        """Build the new state beside the old one (requests keep being answered by the old),
        then swap; with several workers, the others load the same (the shared generation)
        before the answer, which says how many workers serve the new models.

        Raises:
            ReloadFailed: the reload failed here (the previous models still answer) or did not
                reach every worker.
        """
        start = time.perf_counter()
        try:
            new = self.load(self.state())
        except Exception as err:  # BundleError, StoreError, RegistryError, ...
            self.metrics.reloads.labels("failed").inc()
            raise ReloadFailed(f"reload failed, still serving the previous models: {err}") from err
        self.metrics.reloads.labels("ok").inc()
        count = 1
        if self.shared is not None:
            self.served = self.shared.bump()
            failed, late = self.shared.wait(self.served, RELOAD_WAIT_S)
            if failed or late:
                raise ReloadFailed(partial(self.shared.workers, failed, late))
            count = self.shared.workers
        return {"status": "reloaded", "seconds": round(time.perf_counter() - start, 3),
                "model_version": new.version, "registry_version": new.champion.registry_version,
                "rollout": rollout_metadata(new), "workers": count}  # fmt: skip

    def metadata(self) -> dict[str, Any]:
        """Which model answers, and how (``/v1/metadata``)."""
        s = self.state()
        meta = s.bundle.metadata
        return {
            "study": s.bundle.spec.study,
            "model_version": s.version,
            "registry_version": s.champion.registry_version,
            "runtime": s.champion.runtime.name,
            "rollout": rollout_metadata(s),
            "files": meta.get("files", {}),
            "training_window": meta.get("training_window", {}),
            "hyperparameters": meta.get("hyperparameters", {}),
            "code": meta.get("code", {}),
            "threshold": s.bundle.threshold,
            "label": s.bundle.spec.label_definition,
            "features": [f.name for f in s.bundle.spec.features],
            "online_store": s.online.describe(),
            "blessing": s.champion.blessing,
            "worker": {
                "index": self.index(),
                "of": self.shared.workers if self.shared else 1,
                "pid": os.getpid(),
                "generation": self.served,
            },
            **dict(self.settings.extra_metadata),
        }


def partial(total: int, failed: list[int], late: list[int]) -> str:
    """Why a reload did not reach every worker."""
    parts = [
        f"worker(s) {failed} failed to load the new models" if failed else "",
        f"worker(s) {late} did not answer within {RELOAD_WAIT_S:.0f} s" if late else "",
    ]
    return (f"reload reached {total - len(failed) - len(late)} of {total} workers: "
            f"{'; '.join(p for p in parts if p)}; those still serve the previous models "
            "(tabstudy_reloads_total{outcome=\"failed\"}); reload again")  # fmt: skip


def rollout_metadata(s: State) -> dict[str, Any]:
    """The rollout in force: mode, canary share and every variant's versions."""
    return {"mode": s.mode, "canary_share": s.share if s.mode == "canary" else None,
            "variants": {v.name: v.describe() for v in s.variants()}}  # fmt: skip
