"""Commands around the served model: the service, batch scoring, the rollout report and the
request log's monitoring."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

from tabstudy import config

FILE = click.Path(path_type=Path, dir_okay=False)


@click.command(
    epilog="""\b
Examples:
  tabstudy serve                                  # make serve: serve.host, serve.port
  tabstudy serve --port 8001 --workers 2
  curl -s localhost:8000/v1/metadata"""
)
@click.option("--host", help="Interface to bind (default: serve.host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: serve.port).")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes (default: serve.workers)."
)
def serve(host: str | None, port: int | None, workers: int | None) -> int:
    """Check the champion, the challenger and the online store, then serve the HTTP API."""
    from tabstudy.pipeline import serve as service

    return service.main(host, port, workers)


RUNTIMES: tuple[str, ...] = get_args(config.ScoreConfig.model_fields["runtime"].annotation)


@click.command(
    epilog="""\b
Examples:
  tabstudy score external/flights_tomorrow.csv    # -> reports/scores/flights_tomorrow.parquet
  tabstudy score rows.parquet -o scored.parquet --model v0.0.2 --runtime onnx"""
)
@click.argument("source", metavar="INPUT", type=FILE)
@click.option(
    "-o", "--output", type=FILE,
    help="Parquet file to write (default: reports/scores/<input stem>.parquet).",
)  # fmt: skip
@click.option(
    "--chunk-rows", type=click.IntRange(min=1), help="Rows at a time (default: score.chunk_rows)."
)
@click.option("--model", help="champion | workspace | a registered version (default: serve.model).")
@click.option("--runtime", type=click.Choice(RUNTIMES), help="Default: score.runtime.")
@click.option("--delimiter", help="CSV field separator (default: data.delimiter, else ,).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def score(
    source: Path, output: Path | None, chunk_rows: int | None, model: str | None,
    runtime: str | None, delimiter: str | None, no_progress: bool,
) -> int:  # fmt: skip
    """Score a CSV or Parquet file of raw rows in chunks, as the service would; write Parquet.
    Exit 1: bad input (named); 2: the model, store or params cannot be used."""
    from tabstudy.pipeline import score as scoring

    return scoring.main(source, output, chunk_rows, model, runtime, delimiter, not no_progress)


@click.command(
    "rollout-report",
    epilog="""\b
Examples:
  tabstudy rollout-report                          # make rollout-report
  tabstudy rollout-report --labels outcomes.csv    # + each variant's ROC AUC""",
)
@click.option("--requests", type=FILE, help="The request log (default: the service's).")
@click.option("--labels", type=FILE, help="Outcomes: the request key fields and the label.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
def rollout_report(requests: Path | None, labels: Path | None, seed: int) -> int:
    """Compare the champion and the challenger on the served traffic (shadow or canary)."""
    from tabstudy.pipeline import rollout

    return rollout.main(requests, labels, seed)


@click.command(
    epilog="""\b
Examples:
  tabstudy monitor --requests data/serving/requests.jsonl
  tabstudy monitor --labels outcomes.csv           # + realised performance"""
)
@click.option("--requests", type=FILE, help="The request log (default: the service's).")
@click.option("--labels", type=FILE, help="Outcomes: the request key fields and the label.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False),
    help="Report directory (default: reports/monitoring/requests).",
)  # fmt: skip
@click.option("--seed", type=int, help="Bootstrap seed (default: the params' seed).")
def monitor(requests: Path | None, labels: Path | None, out: Path | None, seed: int | None) -> int:
    """Drift and performance of the served traffic, by window, from the request log."""
    from tabstudy.pipeline import monitor as monitoring

    return monitoring.main(requests, labels, out, seed)


COMMANDS = (serve, score, rollout_report, monitor)
