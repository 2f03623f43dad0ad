"""The service's HTTP API: every path, its documented responses, and the error answers.

:func:`router` builds the routes over a :class:`~tabstudy.serving.service.Service` and the
request models of its study (known only when the app is made); :func:`error_handlers` are the
answers to a row the service cannot serve (422), a full request log (503) and an unparseable
body (422, not FastAPI's 400).
"""

import uuid  # no `from __future__ import annotations`: FastAPI reads the endpoints' annotations,

# and the request models are local to router()
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tabstudy.serving import explain, freshness, schemas
from tabstudy.serving.features import RowError
from tabstudy.serving.metrics import Metrics
from tabstudy.serving.requestlog import LogFull
from tabstudy.serving.rollout import CHALLENGER, CHAMPION
from tabstudy.serving.scoring import check_freshness, json_response, score
from tabstudy.serving.service import ReloadFailed, Service

RETRY_AFTER_S = 1
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


def router(svc: Service, row_model: type[BaseModel], batch_model: type[BaseModel]) -> APIRouter:
    """Every path of the API over ``svc``: one row as ``row_model``, a batch as
    ``batch_model`` (columns)."""
    api = APIRouter()
    metrics, max_rows = svc.metrics, svc.settings.max_batch_rows

    @api.get("/livez", summary="The process is up")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @api.get("/readyz", summary="The bundle is loaded and verified",
             responses={**AUTH, 503: {"description": "still loading"}})  # fmt: skip
    async def readyz() -> Any:
        s = svc.current
        if s is None or not s.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready", "model_version": s.version}

    @api.get("/v1/metadata", summary="Which model answers, and how", responses=AUTH)
    async def metadata() -> dict[str, Any]:
        return svc.metadata()

    @api.post("/v1/admin/reload", summary="Load the models the registry names now",
              responses={**AUTH, 409: problem("the reload failed; the previous models still "
                                              "answer")})  # fmt: skip
    def reload() -> Any:
        """A failure leaves the old state serving and answers 409 with the reason."""
        try:
            return svc.reload()
        except ReloadFailed as err:
            return JSONResponse({"detail": str(err)}, status_code=409)

    @api.post("/v1/predict", response_model=schemas.Prediction, summary="Score one row",
              responses=SCORING)  # fmt: skip
    async def predict(row: row_model) -> Any:  # type: ignore[valid-type]
        s = svc.state()
        columns = {k: [v] for k, v in dict(row).items()}
        out = score(s, metrics, columns, "predict")
        variant = out.variants[0] if out.variants else CHAMPION
        answered = s.challenger if variant == CHALLENGER and s.challenger else s.champion
        return json_response(schemas.Prediction(
            request_id=out.request_id, stale=out.stale[0],
            probability=float(out.probabilities[0]), decision=bool(out.decisions[0]),
            threshold=answered.threshold, model_version=answered.version, variant=variant,
            registry_version=answered.registry_version,
        ))  # fmt: skip

    @api.post("/v1/predict/batch", response_model=schemas.BatchPrediction,
              summary=f"Score up to {max_rows:,} rows given as columns",
              description="Every column holds the same number of rows (422 otherwise: a rule "
              "the schema cannot express).", responses=SCORING)  # fmt: skip
    def predict_batch(batch: batch_model) -> Any:  # type: ignore[valid-type]
        s = svc.state()
        out = score(s, metrics, batch.columns(), "batch")  # type: ignore[attr-defined]
        return json_response(schemas.BatchPrediction(
            request_id=out.request_id, rows=len(out.probabilities),
            probabilities=out.probabilities.tolist(), decisions=out.decisions.tolist(),
            threshold=s.threshold, model_version=s.version, variants=out.variants,
            stale=out.stale,
        ))  # fmt: skip

    @api.post("/v1/explain", response_model=schemas.Explanation, responses=BODY,
              summary="Score one row and say which features drove the probability",
              description=EXPLAIN)  # fmt: skip
    async def explain_row(row: row_model, top: int = Query(5, ge=1, le=1000)) -> Any:  # type: ignore[valid-type]
        s = svc.state()
        columns = {k: [v] for k, v in dict(row).items()}
        stale = check_freshness(s, columns)
        feats = s.online.features(columns)
        out = explain.occlusion(feats, s.references, s.champion.runtime.predict, top)
        return json_response(schemas.Explanation(
            request_id=uuid.uuid4().hex, probability=out.probability, baseline=out.baseline,
            model_version=s.version, stale=freshness.per_row(stale, 1)[0],
            contributions=[schemas.Contribution(**vars(c)) for c in out.contributions],
        ))  # fmt: skip

    @api.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
             responses=AUTH)  # fmt: skip
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.export), media_type=CONTENT_TYPE_LATEST)

    return api


def error_handlers(metrics: Metrics) -> dict[type[Exception], Callable[..., Any]]:
    """The app's answers to the errors a request can meet after validation."""

    async def row_error(request: Request, err: RowError) -> JSONResponse:
        where = ["body", err.field] + ([err.row] if request.url.path.endswith("batch") else [])
        return JSONResponse({"detail": [{"loc": where, "msg": str(err), "type": "value_error"}]},
                            status_code=422)  # fmt: skip

    async def log_full(request: Request, err: LogFull) -> JSONResponse:
        metrics.log_full.inc()
        return JSONResponse({"detail": f"{err}; retry in {RETRY_AFTER_S} s"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip

    async def unparseable(request: Request, err: HTTPException) -> Response:
        """FastAPI answers 400 to a body it cannot decode (e.g. not UTF-8); like any other
        malformed body, that is a 422 naming the body."""
        if err.status_code != 400:
            return await http_exception_handler(request, err)
        return JSONResponse({"detail": [{"loc": ["body"], "type": "body_unparseable",
                                         "msg": f"the body cannot be read: {err.detail}"}]},
                            status_code=422)  # fmt: skip

    return {RowError: row_error, LogFull: log_full, HTTPException: unparseable}
