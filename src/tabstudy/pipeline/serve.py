"""``make serve``: the prediction service over the registry's champion and the online store.

``tabstudy serve [--host H] [--port P] [--workers N]`` resolves what ``serve.model`` and
``serve.rollout`` name in the registry (the champion; the workspace bundle while none is
registered; a challenger beside it in shadow or canary), checks each bundle (every file's
SHA-256) and that the online store can serve it, then runs uvicorn: ``serve.workers`` processes
(:mod:`tabstudy.serving.workers`; ``auto``: one per core) forked after the online store and the
model libraries are loaded, so they share those pages, or a single process with ``workers: 1``.
Graceful shutdown on SIGTERM flushes every worker's request log. A check that fails prints one
line naming the file and exits 2 before anything listens (so does an event source of the store
without a ``serve.max_staleness_hours`` limit). ``TABSTUDY_API_TOKEN`` set: every endpoint but
``/livez`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from tabstudy import artifacts, config, paths, registry, studies
from tabstudy.data import store
from tabstudy.data.store import StoreError
from tabstudy.models.bundle import Bundle, BundleError, load_bundle
from tabstudy.pipeline import registry as cli
from tabstudy.serving import freshness, workers
from tabstudy.serving.app import ServeSettings, create_app
from tabstudy.serving.features import OnlineFeatures
from tabstudy.serving.metrics import share_metrics
from tabstudy.serving.rollout import ModelChoice, Plan
from tabstudy.studies import online as online_studies

TOKEN_ENV = "TABSTUDY_API_TOKEN"


def load_config(*sections: str) -> config.StageConfig:
    """params.yaml (profile applied) validated: ``data`` and the named sections."""
    params = config.resolve(config.load_params())
    chosen = {name: params[name] for name in ("data", *sections)}
    return studies.stage_config(params["profile"], params["seed"], **chosen)


def _config() -> tuple[config.StageConfig, config.ServeConfig]:
    cfg = load_config("serve")
    assert cfg.serve is not None
    return cfg, cfg.serve


def _registered(artifact: str, name: str) -> registry.Version | None:
    """A registry stage (prod, staging) or version name, resolved."""
    if name in (registry.PROD, registry.STAGING):
        return registry.in_stage(artifact, name)
    return registry.find(artifact, name)


def plan() -> Plan:
    """What ``serve.model`` and ``serve.rollout`` name in the registry now (params.yaml is read
    again, so a reload also picks up a changed rollout). The champion while none is registered
    is the workspace bundle (``models/bundle``)."""
    _, serve = _config()
    champion = choose(serve.model)
    if serve.rollout == "none":
        return Plan(champion)
    v = _registered(cli.artifact(), serve.challenger)
    if v is None:
        raise registry.RegistryError(
            f"serve.rollout={serve.rollout} needs a challenger, but nothing is in "
            f"{serve.challenger}; put one there: tabstudy registry "
            "challenger VERSION"
        )
    return Plan(champion, serve.rollout, _choice(v), serve.canary_share)


def choose(model: str) -> ModelChoice:
    """The bundle ``model`` names (as ``serve.model`` does): ``champion``, the registry's prod
    version (the workspace bundle while none is registered); ``workspace``, ``models/bundle``;
    else a registered version (:class:`~tabstudy.registry.RegistryError` when unknown)."""
    v = None
    if model != "workspace":
        v = _registered(cli.artifact(), registry.PROD if model == "champion" else model)
    return _choice(v) if v else ModelChoice(paths.bundle_dir(), None, _workspace_blessing())


def _choice(v: registry.Version) -> ModelChoice:
    """A registered version to serve (restored from DVC if needed), with its record."""
    keys = ("blessed", "roc_auc", "roc_auc_ci95", "gate", "reasons")
    return ModelChoice(registry.bundle_path(v), v.version, {k: v.record.get(k) for k in keys})


def _workspace_blessing() -> dict[str, Any] | None:
    """The evaluate stage's blessing of the workspace bundle (None when it judged another)."""
    evaluate = paths.metrics_file("evaluate")
    if not evaluate.is_file():
        return None
    metrics = artifacts.read_json(evaluate)
    judged = (metrics.get("promotion") or {}).get("challenger", {}).get("digest")
    if judged and judged != store.bundle_digest(paths.bundle_dir()):
        return None
    return metrics.get("blessing")


def settings() -> tuple[ServeSettings, config.ServeConfig, Plan]:
    """The service's settings from params.yaml (profile applied) and the environment, and the
    plan they resolve to now (checked before anything listens)."""
    cfg, serve = _config()
    study = online_studies.get(cfg.data.source)
    first = plan()
    bundle = load_bundle(first.champion.bundle_dir)
    return (
        ServeSettings(
            plan=plan,
            request_model=study.request_model(bundle),
            online=functools.partial(online_features, study),
            log_dir=paths.request_log_dir(),
            runtime=serve.runtime,
            max_body_bytes=serve.max_body_bytes,
            max_batch_rows=serve.max_batch_rows,
            token=os.environ.get(TOKEN_ENV) or None,
            check=lambda b: check_store(b.path),
            staleness=serve.staleness,
            max_staleness_hours=serve.max_staleness_hours,
            log_max_bytes=serve.log_max_bytes,
            log_keep=serve.log_keep,
            log_queue=serve.log_queue,
        ),
        serve,
        first,
    )


SERVING_KEYS = ("features", "time_column", "study")
"""The keys of ``feature_spec.json`` that decide what the online store must serve (the rest
describes the study for pages and cards: words, the leakage guard's bound and findings)."""


def same_features(a: Path, b: Path) -> bool:
    """Whether the bundles in ``a`` and ``b`` read the same features (:data:`SERVING_KEYS` of
    their ``feature_spec.json``), so one store serves both, whichever version wrote the spec."""
    specs = [artifacts.read_json(Path(d) / "feature_spec.json") for d in (a, b)]
    return all(specs[0].get(k) == specs[1].get(k) for k in SERVING_KEYS)


def check_store(bundle_dir: Path) -> None:
    """The online store can serve the bundle in ``bundle_dir``: it was built for it, or for the
    workspace bundle and both read the same features (:func:`same_features`), as a registered
    version retrained with other training params has. :class:`StoreError` naming the file
    otherwise (any study: a table study's store holds only this record)."""
    meta = store.read_meta(paths.online_store())
    digest = store.bundle_digest(bundle_dir)
    built_for = paths.bundle_dir()
    if (
        meta.get("bundle_sha256") != digest
        and (built_for / "metadata.json").is_file()
        and store.bundle_digest(built_for) == meta.get("bundle_sha256")
        and same_features(built_for, bundle_dir)
    ):
        return
    store.check_bundle(meta, digest, paths.online_store())


def online_features(study: online_studies.ServingStudy, bundle: Bundle) -> OnlineFeatures:
    """The study's request-time features for ``bundle``, once :func:`check_store` passed."""
    check_store(bundle.path)
    return study.online(bundle, paths.online_store())


def main(host: str | None = None, port: int | None = None, workers_: int | None = None) -> int:
    """``tabstudy serve``: check, then serve (see the module docstring); ``None`` takes the
    ``serve`` section's value. Returns the exit status (2: what cannot be served, named)."""
    try:
        ready, serve, first = settings()
        for choice in (first.champion, first.challenger):
            if choice is not None:
                check_store(choice.bundle_dir)
        freshness.sources(store.read_meta(paths.online_store()), serve.max_staleness_hours)
    except (BundleError, StoreError, registry.RegistryError) as err:
        print(f"cannot serve: {err}", file=sys.stderr)
        return 2
    host, port = host or serve.host, port or serve.port
    count = workers_ or (workers.cores() if serve.workers == "auto" else serve.workers)
    if count > 1:
        return serve_workers(ready, host, port, count, first.champion.bundle_dir)
    import uvicorn

    uvicorn.run(create_app(ready), host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=GRACE_S)  # fmt: skip
    return 0


GRACE_S = 10
"""Seconds uvicorn waits for open requests on SIGTERM."""


def preload(ready: ServeSettings, champion: Path) -> ServeSettings:
    """``ready`` with the champion's online features loaded now (in the process the workers
    are forked from, so they share its pages); a reload to a bundle the store is not for
    builds its own. TensorFlow is imported too: every worker's runtime needs it."""
    import tensorflow  # noqa: F401  (imported once, before the fork)

    loaded = ready.online(load_bundle(champion))
    digest = store.bundle_digest(champion)

    def online(bundle: Bundle) -> OnlineFeatures:
        if store.bundle_digest(bundle.path) == digest:
            return loaded
        return ready.online(bundle)

    return dataclasses.replace(ready, online=online)


def serve_workers(ready: ServeSettings, host: str, port: int, count: int, champion: Path) -> int:
    """Serve with ``count`` worker processes (:mod:`tabstudy.serving.workers`), their metrics
    added up over per-process files in a temporary directory removed at exit."""
    import uvicorn

    try:
        sock = workers.listen(host, port)
    except OSError as err:
        print(f"cannot serve: {host}:{port}: {err.strerror}", file=sys.stderr)
        return 2
    directory = Path(tempfile.mkdtemp(prefix="tabstudy-metrics-"))
    try:
        share_metrics(directory)
        shared = workers.Shared(count)
        app = create_app(preload(ready, champion), shared)

        def run(listening: socket.socket) -> None:
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                   timeout_graceful_shutdown=GRACE_S))  # fmt: skip
            server.run(sockets=[listening])
            if not server.started:
                raise SystemExit(3)

        print(f"serving on http://{host}:{port} with {count} worker processes", file=sys.stderr)
        return workers.serve(sock, count, shared, run)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
