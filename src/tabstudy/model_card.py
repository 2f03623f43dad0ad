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


def data_facts(bundle: Any, evaluate: dict[str, Any], ingest: dict[str, Any]) -> dict[str, Any]:
    """What the card says about the data, the label and the decision threshold, from the model
    bundle, the evaluate metrics and the ingest metrics (a file source's digest)."""
    text = bundle.spec.description
    if ingest.get("sha256"):
        text += f" The file's SHA-256 at ingest: {ingest['sha256'][:12]}."
    return {
        "data_description": text,
        "label_definition": bundle.spec.label_definition,
        "threshold": bundle.threshold,
        "test_threshold": evaluate.get("threshold", {}),
        "code": bundle.metadata.get("code", {}),
    }
