"""``make score IN=file``: batch scoring of a CSV or Parquet file of raw rows, in chunks.

``tabstudy score INPUT [-o OUTPUT] [--chunk-rows N] [--model M] [--runtime R] [--delimiter D]
[--no-progress]``

The rows are what a request of the service carries (flights: the schedule fields of
``FlightRequest``, the study computes the point-in-time features from the online store; a table
study: the feature columns). The model is resolved as the service resolves it (``--model``,
default ``serve.model``: ``champion``, ``workspace`` or a registered version), its bundle is
verified, the online store is checked against it, and the runtime (``--runtime``, default
``score.runtime``) is built; then :func:`tabstudy.serving.batch.score_file` streams the file in
chunks of ``--chunk-rows`` (default ``score.chunk_rows``: memory follows the chunk, not the
file) and writes ``OUTPUT`` (default ``reports/scores/<input stem>.parquet``) atomically.

Prints one summary line (rows, seconds, rows/s, output) on stdout. Exits 1 on bad input (one
line naming the file, row, column, rule and value; no output written) and 2 when the model, the
store or the params cannot be used.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tabstudy import config, paths, registry
from tabstudy.data import store
from tabstudy.data.readers import DataReadError
from tabstudy.pipeline import serve
from tabstudy.serving import batch, freshness
from tabstudy.serving.features import OnlineFeatures
from tabstudy.serving.state import Variant
from tabstudy.studies import online as online_studies


def load_model(cfg: config.StageConfig, model: str, runtime: str) -> tuple[Variant, OnlineFeatures]:
    """The verified bundle ``model`` names, its runtime, and the study's online features over
    the checked store (the service's own steps)."""
    answering = Variant("score", serve.choose(model), runtime)
    online = serve.online_features(online_studies.get(cfg.data.source), answering.bundle)
    return answering, online


def summary(result: batch.ScoreResult) -> str:
    """One line: rows, seconds, rows per second, output; the rows scored with stale features
    by source, when there are any."""
    rate = result.rows / result.seconds if result.seconds > 0 else float("inf")
    stale = ", ".join(f"{name} {n:,}" for name, n in sorted(result.stale.items()))
    return (
        f"scored {result.rows:,} rows in {result.seconds:.1f} s ({rate:,.0f} rows/s) "
        f"-> {result.output}"
        + (f"; rows with stale features (column stale), by source: {stale}" if stale else "")
    )


def main(
    source: Path,
    output: Path | None = None,
    chunk_rows: int | None = None,
    model_name: str | None = None,
    runtime: str | None = None,
    delimiter: str | None = None,
    progress: bool = True,
) -> int:
    """``tabstudy score``: resolve, check, score (see the module docstring); ``None`` takes
    the params' value. Returns the exit status."""
    output = output or paths.scores_file(source.stem)
    if output.resolve() == source.resolve():
        print(f"cannot score: {output}: the output would replace the input", file=sys.stderr)
        return 2
    try:
        cfg = serve.load_config("score", "serve")
        assert cfg.score is not None and cfg.serve is not None
        model, online = load_model(cfg, model_name or cfg.serve.model, runtime or cfg.score.runtime)
        sources = freshness.sources(online.event_sources(), cfg.serve.max_staleness_hours)
    except (ValueError, registry.RegistryError) as err:  # Config, Bundle, Store errors
        print(f"cannot score: {err}", file=sys.stderr)
        return 2
    delimiter = delimiter or getattr(cfg.data, "delimiter", ",")
    digest = store.bundle_digest(model.bundle.path)
    try:
        result = batch.score_file(
            source, output, online, model,
            chunk_rows=chunk_rows or cfg.score.chunk_rows, delimiter=delimiter,
            progress=progress and sys.stderr.isatty(),
            metadata={"bundle_sha256": digest, "study": model.bundle.spec.study},
            sources=sources,
        )  # fmt: skip
    except DataReadError as err:
        print(f"cannot score: {err}", file=sys.stderr)
        return 1
    if result.ignored:
        print(f"note: column(s) the model does not read: {', '.join(result.ignored)}",
              file=sys.stderr)  # fmt: skip
    print(summary(result))
    return 0
