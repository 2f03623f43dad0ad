"""``make serve``: the prediction service over the last ``make repro``'s bundle and online store.

``python -m tabstudy.pipeline.serve [--host H] [--port P]`` checks the bundle (every file's
SHA-256) and that the online store was built for it, then runs uvicorn (one worker; graceful
shutdown on SIGTERM flushes the request log). A check that fails prints one line naming the file
and exits 2 before anything listens. ``TABSTUDY_API_TOKEN`` set: every endpoint but ``/livez``
needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Any

from tabstudy import artifacts, config, paths, studies
from tabstudy.models.bundle import Bundle, BundleError, load_bundle
from tabstudy.serving import store
from tabstudy.serving.app import ServeSettings, create_app
from tabstudy.serving.store import StoreError

TOKEN_ENV = "TABSTUDY_API_TOKEN"


def settings() -> tuple[ServeSettings, config.ServeConfig]:
    """The service's settings from params.yaml (profile applied) and the environment."""
    params = config.resolve(config.load_params())
    cfg = config.stage_config(params["profile"], params["seed"], data=params["data"],
                              serve=params["serve"])  # fmt: skip
    study = studies.get(cfg.data.source)
    bundle = load_bundle(paths.bundle_dir())
    serve = cfg.serve
    assert serve is not None
    evaluate = paths.metrics_file("evaluate")
    blessing = artifacts.read_json(evaluate)["blessing"] if evaluate.is_file() else None
    return (
        ServeSettings(
            bundle_dir=paths.bundle_dir(),
            request_model=study.request_model(bundle),
            online=functools.partial(_online, study),
            log_dir=paths.request_log_dir(),
            runtime=serve.runtime,
            max_body_bytes=serve.max_body_bytes,
            max_batch_rows=serve.max_batch_rows,
            token=os.environ.get(TOKEN_ENV) or None,
            extra_metadata={"blessing": blessing},
        ),
        serve,
    )


def check_store(bundle_dir: Path) -> None:
    """The online store exists and was built for the bundle in ``bundle_dir`` (any study: a
    table study's store holds only this record); :class:`StoreError` naming the file."""
    meta = store.read_meta(paths.online_store())
    store.check_bundle(meta, store.bundle_digest(bundle_dir), paths.online_store())


def _online(study: Any, bundle: Bundle) -> Any:
    check_store(bundle.path)
    return study.online(bundle, paths.online_store())


def main(argv: list[str] | None = None) -> int:
    """Check, then serve (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tabstudy.pipeline.serve")
    parser.add_argument("--host", help="interface to bind (default: serve.host)")
    parser.add_argument("--port", type=int, help="port (default: serve.port)")
    args = parser.parse_args(argv)
    try:
        ready, serve = settings()
        check_store(ready.bundle_dir)
    except (BundleError, StoreError) as err:
        print(f"cannot serve: {err}", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(
        create_app(ready),
        host=args.host or serve.host,
        port=args.port or serve.port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
