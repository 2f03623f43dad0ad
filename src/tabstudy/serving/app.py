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
"""

import asyncio
import gc
import hmac
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tabstudy import artifacts
from tabstudy.data.store import bundle_digest
from tabstudy.models.bundle import Bundle, load_bundle
from tabstudy.serving import explain, freshness, requestlog, rollout, schemas, workers
from tabstudy.serving.features import OnlineFeatures, RowError
from tabstudy.serving.histogram import ArrayHistogram
from tabstudy.serving.requestlog import LogFull, RequestLog
from tabstudy.serving.rollout import CHALLENGER, CHAMPION, ModelChoice, Plan
from tabstudy.serving.runtime import Runtime, load_runtime
from tabstudy.spec import MISSING_CATEGORY

PATHS = (
    "/livez",
    "/readyz",
    "/v1/metadata",
    "/v1/predict",
    "/v1/predict/batch",
    "/v1/explain",
    "/metrics",
    "/v1/admin/reload",
)
OPEN_PATHS = ("/livez",)
RETRY_AFTER_S = 1
RELOAD_WAIT_S = 60.0
"""How long a reload waits for the other workers to load the new models."""
EXPLAIN = (
    "Occlusion against the training reference: each feature replaced by its reference value "
    "(median, most frequent category), all variants scored in one batched call of the "
    "champion's runtime; the `top` contributions, largest first."
)


def problem(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is ``{"detail": "..."}``."""
    return {"description": description, "model": schemas.Problem}


AUTH = {401: problem("missing or wrong bearer token (when the service has one)")}
"""The response every path but ``/livez`` may give."""
BODY = {**AUTH, 413: problem("request body over serve.max_body_bytes")}
"""The responses of every path that takes a body (``/v1/explain``: it writes no log line)."""
SCORING = {
    **BODY,
    503: {**problem("the request log is behind; retry after the Retry-After seconds"),
          "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
}  # fmt: skip
"""The responses of the scoring paths besides 200 and 422 (FastAPI documents 422: the schema's,
a malformed or unparseable body, a row the service cannot serve, a refused stale row)."""
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass(frozen=True)
class ServeSettings:
    """How to serve: what to load (``plan``, called at start-up and on every reload, so a
    promotion or rollback in the registry takes effect without a restart), the study's online
    features (built from the verified champion bundle; ``check`` refuses a bundle the store
    cannot serve), the runtime, the request log (rotation and queue), limits, what to do with
    stale features (``staleness``: flag or refuse; ``max_staleness_hours`` per source) and the
    optional bearer token."""

    plan: Callable[[], Plan]
    request_model: type[BaseModel]
    online: Callable[[Bundle], OnlineFeatures]
    log_dir: Path
    runtime: str
    max_body_bytes: int
    max_batch_rows: int
    token: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Bundle], None] = lambda bundle: None
    staleness: str = "flag"
    max_staleness_hours: Mapping[str, float] = field(default_factory=dict)
    log_max_bytes: int = 64 * 2**20
    log_keep: int = 5
    log_queue: int = 10_000


def share_metrics(directory: Path) -> None:
    """Make every Prometheus metric created from now on in this process, and in the worker
    processes forked from it, write to per-process files in ``directory`` (prometheus_client's
    multiprocess mode, chosen as its import does from ``PROMETHEUS_MULTIPROC_DIR``)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.get_value_class()


class Metrics:
    """The service's Prometheus metrics, in a registry of its own; ``export`` is what
    ``/metrics`` shows. With ``shared`` (several workers, after :func:`share_metrics`) the
    counters, gauge and latency histogram are prometheus_client's multiprocess values, added up
    over the workers' files at each scrape, and the array histograms live in the workers' shared
    memory (:mod:`.histogram`)."""

    def __init__(self, shared: workers.Shared | None = None) -> None:
        self.registry = CollectorRegistry()
        self.export = self.registry
        if shared is not None:
            self.export = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.export)
        arrays = self.export
        self.requests = Counter(
            "tabstudy_requests", "HTTP responses by path and status", ["path", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "tabstudy_request_seconds", "response time by path", ["path"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.scores = ArrayHistogram(
            "tabstudy_prediction_score", "predicted probabilities",
            buckets=[i / 20 for i in range(1, 21)], registry=arrays, shared=shared,
        )  # fmt: skip
        self.unseen = Counter(
            "tabstudy_unseen_category", "served values not seen in training, by feature",
            ["feature"], registry=self.registry,
        )  # fmt: skip
        self.answered = Counter(
            "tabstudy_rows_answered", "rows answered, by variant and model version",
            ["variant", "version"], registry=self.registry,
        )  # fmt: skip
        self.variant_scores = ArrayHistogram(
            "tabstudy_variant_score", "probabilities each variant gave (shadow and canary)",
            buckets=[i / 10 for i in range(1, 11)], registry=arrays, label="variant",
            values=(CHAMPION, CHALLENGER), shared=shared,
        )  # fmt: skip
        self.agreement = Counter(
            "tabstudy_rollout_rows", "rows scored by both variants, by whether their decisions "
            "agree", ["agree"], registry=self.registry,
        )  # fmt: skip
        self.stale = Counter(
            "tabstudy_stale_features", "rows served past an online-store source's watermark "
            "(or before its first event), by source", ["source"], registry=self.registry,
        )  # fmt: skip
        self.log_full = Counter(
            "tabstudy_request_log_full", "requests answered 503 because the request log's "
            "queue was full", registry=self.registry,
        )  # fmt: skip
        self.positive = Counter(
            "tabstudy_positive_decisions", "rows answered with a positive decision (probability "
            "at or above the answering bundle's threshold)", registry=self.registry,
        )  # fmt: skip
        self.reference_positive = Gauge(
            "tabstudy_reference_positive_share", "share of the validation window's rows the "
            "champion decided positive (its threshold.json): what served traffic is compared with",
            registry=self.registry, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.reloads = Counter(
            "tabstudy_reloads", "reloads of the models, by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip

    def known(self, state: "State") -> None:
        """Start the series whose label values are known at 0 (Prometheus' advice: a series
        that appears only on its first event breaks ``rate()``; with several workers a family
        without a sample is not exported at all)."""
        for name in state.vocab:
            self.unseen.labels(name)
        for source in state.sources:
            self.stale.labels(source.name)
        for agree in ("yes", "no"):
            self.agreement.labels(agree)
        for outcome in ("ok", "failed"):
            self.reloads.labels(outcome)

    def response(self, path: str, status: int, seconds: float) -> None:
        """Count one response (paths outside the API are pooled as ``other``)."""
        label = path if path in PATHS else "other"
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)


class Variant:
    """One model the service answers with: verified bundle, runtime, versions, threshold."""

    def __init__(self, name: str, choice: ModelChoice, runtime: str) -> None:
        self.name = name
        self.bundle = load_bundle(choice.bundle_dir)  # BundleError names the file
        self.runtime: Runtime = load_runtime(runtime, self.bundle)
        self.version = bundle_digest(choice.bundle_dir)[:12]
        self.registry_version = choice.registry_version
        self.blessing = dict(choice.blessing) if choice.blessing is not None else None
        self.threshold = float(self.bundle.threshold["value"])

    def describe(self) -> dict[str, Any]:
        """Which model this is, for ``/v1/metadata`` and the request log."""
        return {"model_version": self.version, "registry_version": self.registry_version,
                "runtime": self.runtime.name, "threshold": self.threshold}  # fmt: skip


class State:
    """What the lifespan (and each reload) loads: the plan's variants, the online features
    (built for the champion; the challenger must be servable from the same store) and the
    request log (shared across reloads)."""

    def __init__(
        self, settings: ServeSettings, log: RequestLog | None = None, worker: int = 0
    ) -> None:
        plan = settings.plan()
        self.mode, self.share = plan.mode, plan.canary_share
        self.champion = Variant(CHAMPION, plan.champion, settings.runtime)
        self.challenger: Variant | None = None
        if plan.mode != "none" and plan.challenger is not None:
            self.challenger = Variant(CHALLENGER, plan.challenger, settings.runtime)
            settings.check(self.challenger.bundle)  # StoreError names the store file
        self.bundle = self.champion.bundle
        self.online = settings.online(self.bundle)  # StoreError names the store file
        self.version, self.threshold = self.champion.version, self.champion.threshold
        self.references = explain.reference_values(self.bundle.spec, self.bundle.reference)
        self.reference_positive_share = float(self.bundle.threshold.get("positive_share", "nan"))
        reference = self.bundle.reference.get("categorical", {})
        self.vocab = {name: {*values, MISSING_CATEGORY} for name, values in reference.items()}
        model = settings.request_model
        self.key_fields = tuple(getattr(model, "request_key", ()) or model.model_fields)
        self.sources = freshness.sources(self.online.event_sources(),
                                         settings.max_staleness_hours)  # fmt: skip
        self.refuse_stale = settings.staleness == "refuse"
        self.log = log or RequestLog(settings.log_dir, settings.log_max_bytes,
                                     settings.log_keep, settings.log_queue,
                                     name=requestlog.worker_file(worker))  # fmt: skip
        self.ready = False

    def variants(self) -> list[Variant]:
        """The champion, then the challenger when a rollout is on."""
        return [self.champion] + ([self.challenger] if self.challenger else [])

    def warm_up(self) -> None:
        """Call every runtime once on the request model's example (graph tracing happens
        before the first request), and let ``auto`` check its two runtimes agree."""
        example = self.online.request_model.model_config.get("json_schema_extra") or {}
        first = example.get("examples", [{}])[0]
        if not first:
            return
        row = self.online.request_model.model_validate(first)
        warm = self.online.features({k: [v] * 2 for k, v in dict(row).items()})
        for v in self.variants():
            v.runtime.predict(warm)
            check = getattr(v.runtime, "check", None)
            if check is not None:
                check(warm)


def _json(answer: BaseModel) -> Response:
    """``answer`` (built and validated as the endpoint's ``response_model``) as JSON, by
    pydantic's serializer: FastAPI would validate the model a second time and encode it
    through ``json.dumps``: 4.9 ms for a 10,000-row batch's answer, against 0.6 ms here."""
    return Response(answer.model_dump_json(), media_type="application/json")


@dataclass(frozen=True)
class Scored:
    """A request's answers: probabilities, decisions, which variant answered each row, and each
    row's stale sources (:mod:`.freshness`)."""

    request_id: str
    probabilities: np.ndarray
    decisions: np.ndarray
    variants: list[str] | None
    stale: list[list[str]]


def _score(
    state: State, metrics: Metrics, columns: Mapping[str, list[Any]], endpoint: str
) -> Scored:
    """Features, probabilities (both variants in a rollout), freshness, the request log and
    metrics of the rows in ``columns``. The line is queued before any metric counts the rows:
    when the log is full (:class:`LogFull`, answered 503) nothing was served or counted."""
    start = time.perf_counter()
    request_id = uuid.uuid4().hex
    stale = _freshness(state, columns)
    feats = state.online.features(columns)
    champ = state.champion
    p_champ = champ.runtime.predict(feats)
    record: dict[str, Any] = {}
    if state.challenger is None:
        probs, decisions, variants = p_champ, p_champ >= champ.threshold, None
    else:
        chal = state.challenger
        p_chal = chal.runtime.predict(feats)
        keys = rollout.request_keys(columns, state.key_fields)
        use = rollout.served_by(state.mode, keys, state.share)
        probs = np.where(use, p_chal, p_champ)
        decisions = np.where(use, p_chal >= chal.threshold, p_champ >= champ.threshold)
        variants = [CHALLENGER if u else CHAMPION for u in use.tolist()]
        record = _rollout_record(state, keys, variants, p_champ, p_chal)
    stale_rows = freshness.per_row(stale, len(probs))
    latency_ms = (time.perf_counter() - start) * 1000
    state.log.write(
        [
            {
                "request_id": request_id,
                "time": time.time(),
                "endpoint": endpoint,
                "model_version": champ.version,
                "registry_version": champ.registry_version,
                "rows": len(probs),
                "latency_ms": latency_ms,
                "probability": probs,
                **record,
                "stale": stale_rows,
                "features": feats,  # arrays: encoded by the log's writer (NaN as null)
                "request": {n: list(v) for n, v in columns.items()},
                "keys": record.get("keys") or rollout.request_keys(columns, state.key_fields),
                "key_fields": list(state.key_fields),
            }
        ]
    )  # fmt: skip  (LogFull: nothing below runs)
    if state.challenger is None:
        metrics.answered.labels(CHAMPION, champ.version).inc(len(probs))
    else:
        _rollout_metrics(state, metrics, variants or [], p_champ, p_chal)
    for name, mask in stale.items():
        metrics.stale.labels(name).inc(int(mask.sum()))
    for name, vocab in state.vocab.items():
        values = feats[name]
        unseen = len(values) - sum(map(vocab.__contains__, values))  # C-level loop
        if unseen:
            metrics.unseen.labels(name).inc(unseen)
    metrics.scores.observe(probs)
    metrics.positive.inc(int(np.count_nonzero(decisions)))
    return Scored(request_id, probs, decisions, variants, stale_rows)


def _freshness(state: State, columns: Mapping[str, list[Any]]) -> dict[str, np.ndarray]:
    """The stale sources of the rows in ``columns`` (:mod:`.freshness`); with
    ``serve.staleness: refuse`` a :class:`RowError` naming the first stale row instead."""
    times = state.online.prediction_times(columns)
    stale = freshness.check(state.sources, times)
    if stale and state.refuse_stale:
        assert times is not None
        row, why = freshness.first_refusal(state.sources, stale, times)
        raise RowError(state.online.time_field(columns, row), row, why)
    return stale


def _rollout_record(
    state: State, keys: list[str], variants: list[str], p_champ: np.ndarray, p_chal: np.ndarray
) -> dict[str, Any]:
    """What a rollout request's log line adds: the mode, both variants' versions, thresholds
    and probabilities, who answered each row, the keys."""
    return {
        "rollout": state.mode,
        "variants": {v.name: v.describe() for v in state.variants()},
        "served": variants,
        "champion_probability": p_champ,
        "challenger_probability": p_chal,
        "keys": keys,
        "key_fields": list(state.key_fields),
    }


def _rollout_metrics(
    state: State, metrics: Metrics, variants: list[str], p_champ: np.ndarray, p_chal: np.ndarray
) -> None:
    """Per-variant metrics of a rollout request: rows answered, scores, decision agreement."""
    champ, chal = state.champion, state.challenger
    assert chal is not None
    n_chal = variants.count(CHALLENGER)
    if len(variants) - n_chal:
        metrics.answered.labels(CHAMPION, champ.version).inc(len(variants) - n_chal)
    if n_chal:
        metrics.answered.labels(CHALLENGER, chal.version).inc(n_chal)
    agree = (p_champ >= champ.threshold) == (p_chal >= chal.threshold)
    metrics.agreement.labels("yes").inc(int(agree.sum()))
    metrics.agreement.labels("no").inc(int((~agree).sum()))
    metrics.variant_scores.observe(p_champ, CHAMPION)
    metrics.variant_scores.observe(p_chal, CHALLENGER)


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


def create_app(settings: ServeSettings, shared: workers.Shared | None = None) -> FastAPI:
    """The service over ``settings`` (see the module docstring); ``shared``: one of several
    worker processes (:mod:`.workers`), whose metrics and reloads it shares."""
    metrics = Metrics(shared)
    holder: dict[str, State] = {}
    reloading = threading.Lock()
    served = [0]  # the reload generation this worker serves (several workers)

    def index() -> int:
        """This process's worker index (set in each forked child)."""
        return shared.worker if shared else 0

    def load(old: State | None) -> State:
        """A new state beside ``old`` (its request log kept), warmed up; swapped in."""
        with reloading:
            new = State(settings, log=old.log if old else None, worker=index())
            new.warm_up()
            new.ready = True
            holder["state"] = new
            metrics.reference_positive.set(new.reference_positive_share)
            metrics.known(new)
            return new

    async def follow(seen: int) -> None:
        """Another worker reloaded (the shared generation moved): load the same, acknowledge."""
        assert shared is not None
        while True:
            await asyncio.sleep(workers.POLL_S)
            generation = int(shared.generation[0])
            if generation == seen:
                continue
            seen = generation
            if shared.acks[index()] >= generation:  # this worker's own reload
                continue
            try:
                await asyncio.to_thread(load, holder["state"])
                ok = True
            except Exception:
                ok = False
            metrics.reloads.labels("ok" if ok else "failed").inc()
            if ok:
                served[0] = generation
            shared.acknowledge(generation, ok)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen = int(shared.generation[0]) if shared else 0
        served[0] = seen
        load(None)
        gc.collect()
        gc.freeze()  # what start-up loaded lives as long as the process: the GC skips it
        following = None
        if shared is not None:
            shared.acknowledge(seen, True)
            following = asyncio.create_task(follow(seen))
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
            holder["state"].ready = False
            holder["state"].log.close()

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
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", summary="The bundle is loaded and verified",
             responses={**AUTH, 503: {"description": "still loading"}})  # fmt: skip
    async def readyz() -> Any:
        s = holder.get("state")
        if s is None or not s.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready", "model_version": s.version}

    @app.get("/v1/metadata", summary="Which model answers, and how", responses=AUTH)
    async def metadata() -> dict[str, Any]:
        s = state()
        meta = s.bundle.metadata
        return {
            "study": s.bundle.spec.study,
            "model_version": s.version,
            "registry_version": s.champion.registry_version,
            "runtime": s.champion.runtime.name,
            "rollout": _rollout_metadata(s),
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
                "index": index(),
                "of": shared.workers if shared else 1,
                "pid": os.getpid(),
                "generation": served[0],
            },
            **dict(settings.extra_metadata),
        }

    @app.post("/v1/admin/reload", summary="Load the models the registry names now",
              responses={**AUTH, 409: problem("the reload failed; the previous models still "
                                              "answer")})  # fmt: skip
    def reload() -> Any:
        """Build the new state beside the old one (requests keep being answered by the old),
        then swap; a failure leaves the old state serving and answers 409 with the reason.
        With several workers, the others load the same (the shared generation) before the
        answer, which says how many workers serve the new models."""
        start = time.perf_counter()
        try:
            new = load(state())
        except Exception as err:  # BundleError, StoreError, RegistryError, ...
            metrics.reloads.labels("failed").inc()
            return JSONResponse({"detail": f"reload failed, still serving the previous "
                                 f"models: {err}"}, status_code=409)  # fmt: skip
        metrics.reloads.labels("ok").inc()
        count = 1
        if shared is not None:
            served[0] = shared.bump()
            failed, late = shared.wait(served[0], RELOAD_WAIT_S)
            if failed or late:
                return JSONResponse({"detail": _partial(shared.workers, failed, late)},
                                    status_code=409)  # fmt: skip
            count = shared.workers
        return {"status": "reloaded", "seconds": round(time.perf_counter() - start, 3),
                "model_version": new.version, "registry_version": new.champion.registry_version,
                "rollout": _rollout_metadata(new), "workers": count}  # fmt: skip

    @app.post("/v1/predict", response_model=schemas.Prediction, summary="Score one row",
              responses=SCORING)  # fmt: skip
    async def predict(row: row_model) -> Any:  # type: ignore[valid-type]
        s = state()
        columns = {k: [v] for k, v in dict(row).items()}
        out = _score(s, metrics, columns, "predict")
        variant = out.variants[0] if out.variants else CHAMPION
        answered = s.challenger if variant == CHALLENGER and s.challenger else s.champion
        return _json(schemas.Prediction(request_id=out.request_id, stale=out.stale[0],
                                        probability=float(out.probabilities[0]),
                                        decision=bool(out.decisions[0]),
                                        threshold=answered.threshold,
                                        model_version=answered.version, variant=variant,
                                        registry_version=answered.registry_version))  # fmt: skip

    @app.post("/v1/predict/batch", response_model=schemas.BatchPrediction,
              summary=f"Score up to {settings.max_batch_rows:,} rows given as columns",
              description="Every column holds the same number of rows (422 otherwise: a rule "
              "the schema cannot express).", responses=SCORING)  # fmt: skip
    def predict_batch(batch: batch_model) -> Any:  # type: ignore[valid-type]
        s = state()
        out = _score(s, metrics, batch.columns(), "batch")
        return _json(schemas.BatchPrediction(request_id=out.request_id,
                                             rows=len(out.probabilities),
                                             probabilities=out.probabilities.tolist(),
                                             decisions=out.decisions.tolist(),
                                             threshold=s.threshold, model_version=s.version,
                                             variants=out.variants, stale=out.stale))  # fmt: skip

    @app.post("/v1/explain", response_model=schemas.Explanation, responses=BODY,
              summary="Score one row and say which features drove the probability",
              description=EXPLAIN)  # fmt: skip
    async def explain_row(row: row_model, top: int = Query(5, ge=1, le=1000)) -> Any:  # type: ignore[valid-type]
        s = state()
        columns = {k: [v] for k, v in dict(row).items()}
        stale = _freshness(s, columns)
        feats = s.online.features(columns)
        out = explain.occlusion(feats, s.references, s.champion.runtime.predict, top)
        return _json(
            schemas.Explanation(
                request_id=uuid.uuid4().hex,
                probability=out.probability,
                baseline=out.baseline,
                model_version=s.version,
                stale=freshness.per_row(stale, 1)[0],
                contributions=[schemas.Contribution(**vars(c)) for c in out.contributions],
            )
        )

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
             responses=AUTH)  # fmt: skip
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.export), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RowError)
    async def row_error(request: Request, err: RowError) -> JSONResponse:
        where = ["body", err.field] + ([err.row] if request.url.path.endswith("batch") else [])
        return JSONResponse({"detail": [{"loc": where, "msg": str(err), "type": "value_error"}]},
                            status_code=422)  # fmt: skip

    @app.exception_handler(LogFull)
    async def log_full(request: Request, err: LogFull) -> JSONResponse:
        metrics.log_full.inc()
        return JSONResponse({"detail": f"{err}; retry in {RETRY_AFTER_S} s"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip

    @app.exception_handler(HTTPException)
    async def unparseable(request: Request, err: HTTPException) -> Response:
        """FastAPI answers 400 to a body it cannot decode (e.g. not UTF-8); like any other
        malformed body, that is a 422 naming the body."""
        if err.status_code != 400:
            return await http_exception_handler(request, err)
        return JSONResponse({"detail": [{"loc": ["body"], "type": "body_unparseable",
                                         "msg": f"the body cannot be read: {err.detail}"}]},
                            status_code=422)  # fmt: skip

    return app


def _partial(total: int, failed: list[int], late: list[int]) -> str:
    """Why a reload did not reach every worker."""
    parts = [
        f"worker(s) {failed} failed to load the new models" if failed else "",
        f"worker(s) {late} did not answer within {RELOAD_WAIT_S:.0f} s" if late else "",
    ]
    return (f"reload reached {total - len(failed) - len(late)} of {total} workers: "
            f"{'; '.join(p for p in parts if p)}; those still serve the previous models "
            "(tabstudy_reloads_total{outcome=\"failed\"}); reload again")  # fmt: skip


def _rollout_metadata(s: State) -> dict[str, Any]:
    """The rollout in force: mode, canary share and every variant's versions."""
    return {"mode": s.mode, "canary_share": s.share if s.mode == "canary" else None,
            "variants": {v.name: v.describe() for v in s.variants()}}  # fmt: skip
