"""The prediction service: a FastAPI app factory over a verified model bundle and a study's
online features.

The bundle, the runtime and the online store are loaded once, in the lifespan (a failure stops
the server before it listens). Handlers are plain ``def`` (FastAPI runs them in its threadpool,
so inference never blocks the event loop). One pure-ASGI guard in front answers 401 (bearer
token, constant-time comparison) and 413 (body over the limit, counted on the bytes received,
not only Content-Length) before the app runs, and records every response for ``/metrics``.
"""

import hmac
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel

from tabstudy import artifacts
from tabstudy.models.bundle import Bundle, load_bundle
from tabstudy.serving import schemas
from tabstudy.serving.features import OnlineFeatures, RowError
from tabstudy.serving.requestlog import RequestLog
from tabstudy.serving.runtime import Runtime, load_runtime
from tabstudy.serving.store import bundle_digest
from tabstudy.spec import MISSING_CATEGORY

PATHS = ("/livez", "/readyz", "/v1/metadata", "/v1/predict", "/v1/predict/batch", "/metrics")
OPEN_PATHS = ("/livez",)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass(frozen=True)
class ServeSettings:
    """How to serve: the bundle, the study's online features (built from the verified bundle),
    the runtime, where the request log goes, limits and the optional bearer token."""

    bundle_dir: Path
    request_model: type[BaseModel]
    online: Callable[[Bundle], OnlineFeatures]
    log_dir: Path
    runtime: str
    max_body_bytes: int
    max_batch_rows: int
    token: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tabstudy_requests", "HTTP responses by path and status", ["path", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "tabstudy_request_seconds", "response time by path", ["path"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.scores = Histogram(
            "tabstudy_prediction_score", "predicted probabilities",
            buckets=tuple(i / 20 for i in range(1, 21)), registry=self.registry,
        )  # fmt: skip
        self.unseen = Counter(
            "tabstudy_unseen_category", "served values not seen in training, by feature",
            ["feature"], registry=self.registry,
        )  # fmt: skip

    def response(self, path: str, status: int, seconds: float) -> None:
        """Count one response (paths outside the API are pooled as ``other``)."""
        label = path if path in PATHS else "other"
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)


class State:
    """What the lifespan loads once: verified bundle, runtime, online features, request log."""

    def __init__(self, settings: ServeSettings) -> None:
        self.bundle = load_bundle(settings.bundle_dir)  # BundleError names the file
        self.online = settings.online(self.bundle)  # StoreError names the store file
        self.runtime: Runtime = load_runtime(settings.runtime, self.bundle)
        self.version = bundle_digest(settings.bundle_dir)[:12]
        self.threshold = float(self.bundle.threshold["value"])
        reference = self.bundle.reference.get("categorical", {})
        self.vocab = {name: set(values) for name, values in reference.items()}
        self.log = RequestLog(settings.log_dir)
        self.ready = False


def _column(values: np.ndarray) -> list[Any]:
    """A feature column for the JSON log (NaN as null)."""
    if values.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in values.tolist()]
    return values.tolist()


def _score(
    state: State, metrics: Metrics, columns: Mapping[str, list[Any]], endpoint: str
) -> tuple[str, np.ndarray]:
    """Features, probabilities, metrics and the request log of the rows in ``columns``."""
    start = time.perf_counter()
    request_id = uuid.uuid4().hex
    feats = state.online.features(columns)
    probs = state.runtime.predict(feats)
    latency_ms = (time.perf_counter() - start) * 1000
    for name, vocab in state.vocab.items():
        values = feats[name]
        unseen = sum(1 for v in values if v not in vocab and v != MISSING_CATEGORY)
        if unseen:
            metrics.unseen.labels(name).inc(unseen)
    for p in probs:
        metrics.scores.observe(float(p))
    state.log.write([{
        "request_id": request_id, "time": time.time(), "endpoint": endpoint,
        "model_version": state.version, "rows": len(probs), "latency_ms": latency_ms,
        "probability": probs.tolist(), "features": {n: _column(v) for n, v in feats.items()},
    }])  # fmt: skip
    return request_id, probs


class Guard:
    """Pure ASGI: bearer-token check, request-body limit (413 on the bytes received), and a
    response count and time for every request (``/metrics``)."""

    def __init__(self, app: Any, token: str | None, max_body: int, metrics: Metrics) -> None:
        self.app, self.token, self.max_body, self.metrics = app, token, max_body, metrics

    def _authorized(self, scope: dict[str, Any]) -> bool:
        if not self.token or scope["path"] in OPEN_PATHS:
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        return hmac.compare_digest(given, f"Bearer {self.token}".encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if not self._authorized(scope):
                await _answer(send_status, 401, "missing or wrong bearer token",
                              [(b"www-authenticate", b"Bearer")])  # fmt: skip
                return
            body, too_large = await self._read_body(scope, receive)
            if too_large:
                await _answer(send_status, 413, f"request body over {self.max_body:,} bytes")
                return
            await self.app(scope, _replay(body, receive), send_status)
        finally:
            self.metrics.response(scope["path"], status[0], time.perf_counter() - start)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> tuple[bytes, bool]:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return b"", True
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), False


def _replay(body: bytes, receive: Any) -> Any:
    sent = [False]

    async def replay() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Any, status: int, detail: str, headers: list[Any] | None = None) -> None:
    body = artifacts.json_text({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings) -> FastAPI:
    """The service over ``settings`` (see the module docstring)."""
    metrics = Metrics()
    holder: dict[str, State] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = State(settings)
        example = state.online.request_model.model_config.get("json_schema_extra") or {}
        first = example.get("examples", [{}])[0]
        if first:  # warm up the runtime (graph tracing) before the first request
            row = state.online.request_model.model_validate(first)
            warm = state.online.features({k: [v] * 2 for k, v in dict(row).items()})
            state.runtime.predict(warm)
            check = getattr(state.runtime, "check", None)
            if check is not None:
                check(warm)
        holder["state"] = state
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            state.log.close()

    app = FastAPI(
        title="tabstudy prediction service",
        version="1",
        lifespan=lifespan,
        description="Scores rows with the verified model bundle. Features come from the "
        "study's online store, computed as in training (point in time).",
    )
    app.add_middleware(Guard, token=settings.token, max_body=settings.max_body_bytes,
                       metrics=metrics)  # fmt: skip
    row_model = settings.request_model
    batch_model = schemas.columnar(row_model, settings.max_batch_rows)

    def state() -> State:
        return holder["state"]

    @app.get("/livez", summary="The process is up")
    def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", summary="The bundle is loaded and verified", responses={503: {}})
    def readyz() -> Any:
        s = holder.get("state")
        if s is None or not s.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready", "model_version": s.version}

    @app.get("/v1/metadata", summary="Which model answers, and how")
    def metadata() -> dict[str, Any]:
        s = state()
        meta = s.bundle.metadata
        return {
            "study": s.bundle.spec.study,
            "model_version": s.version,
            "runtime": s.runtime.name,
            "files": meta.get("files", {}),
            "training_window": meta.get("training_window", {}),
            "hyperparameters": meta.get("hyperparameters", {}),
            "code": meta.get("code", {}),
            "threshold": s.bundle.threshold,
            "label": s.bundle.spec.label_definition,
            "features": [f.name for f in s.bundle.spec.features],
            "online_store": s.online.describe(),
            **dict(settings.extra_metadata),
        }

    @app.post("/v1/predict", response_model=schemas.Prediction, summary="Score one row",
              responses={413: {}, 401: {}})  # fmt: skip
    def predict(row: row_model) -> Any:  # type: ignore[valid-type]
        s = state()
        columns = {k: [v] for k, v in dict(row).items()}
        request_id, probs = _score(s, metrics, columns, "predict")
        p = float(probs[0])
        return schemas.Prediction(request_id=request_id, probability=p,
                                  decision=p >= s.threshold, threshold=s.threshold,
                                  model_version=s.version)  # fmt: skip

    @app.post("/v1/predict/batch", response_model=schemas.BatchPrediction,
              summary=f"Score up to {settings.max_batch_rows:,} rows given as columns",
              responses={413: {}, 401: {}})  # fmt: skip
    def predict_batch(batch: batch_model) -> Any:  # type: ignore[valid-type]
        s = state()
        request_id, probs = _score(s, metrics, batch.columns(), "batch")
        return schemas.BatchPrediction(request_id=request_id, rows=len(probs),
                                       probabilities=probs.tolist(),
                                       decisions=(probs >= s.threshold).tolist(),
                                       threshold=s.threshold, model_version=s.version)  # fmt: skip

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RowError)
    async def row_error(request: Request, err: RowError) -> JSONResponse:
        where = ["body", err.field] + ([err.row] if request.url.path.endswith("batch") else [])
        return JSONResponse({"detail": [{"loc": where, "msg": str(err), "type": "value_error"}]},
                            status_code=422)  # fmt: skip

    return app
