"""The prediction service: a FastAPI app factory over verified model bundles (the champion,
and in a shadow or canary rollout a challenger beside it) and a study's online features.

``POST /v1/admin/reload`` loads what the registry and params.yaml name now, beside the models
in use, then swaps them in: a promotion or rollback takes effect without a restart, and no
request fails during it.

The bundle, the runtime and the online store are loaded once, in the lifespan (a failure stops
the server before it listens), then frozen out of the cyclic garbage collector's sight
(:func:`gc.freeze`): a full collection no longer walks the store's millions of objects in the
middle of a request. A reload's models are not frozen, so at most the first state's cyclic
garbage outlives a reload. ``/v1/predict`` and ``/v1/explain`` are ``async``: one row's
features and inference take well under a millisecond of CPU and wait on nothing (the request
log only enqueues), so they run on the event loop without a thread hop and without the threads
contending for the GIL (``benchmarks/serving.py`` at 8 clients: more requests/s and a lower p99
than the same handler as a threadpool ``def``). The batch
endpoint (up to ``serve.max_batch_rows`` rows) and the reload run in FastAPI's threadpool, so a
long batch or a reload never stalls the loop. One pure-ASGI guard in front answers 401 (bearer
token, constant-time comparison) and 413 (body over the limit, counted on the bytes received,
not only Content-Length) before the app runs, and records every response for ``/metrics``.

This module only wires: the paths are :mod:`.routes`, a worker's life and reloads
:mod:`.service`, what it loads :mod:`.state`, one request's scoring :mod:`.scoring`, the guard
:mod:`.guard` and the metrics :mod:`.metrics`.
"""

from __future__ import annotations

from fastapi import FastAPI

from tabstudy.serving import routes, schemas, workers
from tabstudy.serving.guard import Guard
from tabstudy.serving.service import Service
from tabstudy.serving.state import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings, shared: workers.Shared | None = None) -> FastAPI:
    """The service over ``settings`` (see the module docstring); ``shared``: one of several
    worker processes (:mod:`.workers`), whose metrics and reloads it shares."""
    svc = Service(settings, shared)
    app = FastAPI(
        title="tabstudy prediction service",
        version="1",
        lifespan=svc.lifespan,
        description="Scores rows with the verified model bundle. Features come from the "
        "study's online store, computed as in training (point in time).",
    )
    app.add_middleware(Guard, token=settings.token, max_body=settings.max_body_bytes,
                       metrics=svc.metrics)  # fmt: skip
    row_model = settings.request_model
    api = routes.router(svc, row_model, schemas.columnar(row_model, settings.max_batch_rows))
    app.include_router(api)
    svc.metrics.paths = frozenset(getattr(r, "path", "") for r in api.routes)
    for error, handler in routes.error_handlers(svc.metrics).items():
        app.add_exception_handler(error, handler)
    return app
