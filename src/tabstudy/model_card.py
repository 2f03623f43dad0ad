"""The model card, in Markdown and HTML, filled only from the pipeline's own outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
import markupsafe
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
    names: dict[str, str] = field(default_factory=dict)
    """What the card calls each model (code name -> display name)."""


CODE = re.compile(r"`([^`]+)`")


def code_html(text: str) -> markupsafe.Markup:
    """``text`` HTML-escaped, with Markdown inline code (`x`) shown as ``<code>x</code>``."""
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(CODE.sub(r"<code>\1</code>", escaped))


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tabstudy", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = code_html
    return env


def _context(facts: CardFacts) -> dict[str, Any]:
    scores = facts.scores.reset_index(names="model")
    scores["name"] = [facts.names.get(m, m) for m in scores["model"]]
    splits = facts.splits.reset_index()
    splits["rows"] = splits["rows"].astype(int)
    for column in ("first_date", "last_date"):
        if column in splits:
            splits[column] = splits[column].where(splits[column].notna(), "n/a")
    return {
        "card": facts.config,
        "features": facts.features.to_dict("records"),
        "splits": splits.to_dict("records"),
        "scores": scores.to_dict("records"),
        "names": facts.names,
        "findings": findings(facts),
        "intervals": facts.intervals,
        "blessing": facts.blessing,
        "hparams": facts.hyperparameters,
        "training": facts.training,
        "extra": {"part": "split", **facts.extra},
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
    part = "window" if bundle.spec.time_column else "split"
    if ingest.get("sha256"):
        text += f" The file's SHA-256 at ingest: {ingest['sha256'][:12]}."
    return {
        "data_description": text,
        "label_definition": bundle.spec.label_definition,
        "threshold": bundle.threshold,
        "test_threshold": evaluate.get("threshold", {}),
        "code": bundle.metadata.get("code", {}),
        "part": part,
    }


def findings(facts: CardFacts) -> list[str]:
    """The card's summary, computed from its facts: the verdict, the model's test score with its
    interval against the best baseline, and what the threshold does on the test rows."""
    b, names = facts.blessing, facts.names
    part = facts.extra.get("part", "split")
    model = names.get("model", "the model")
    auc = float(facts.scores.loc["model", "roc_auc"])
    lo, hi = facts.intervals.get("model") or (None, None)
    interval = f" [{lo:.4f}, {hi:.4f}]" if lo is not None else ""
    verdict = "blessed" if b["blessed"] else "not blessed (" + "; ".join(b["reasons"]) + ")"
    base = names.get(b["best_baseline"], b["best_baseline"])
    out = [
        f"{model} is {verdict}: test ROC AUC {auc:.4f}{interval} against "
        f"{b['best_baseline_roc_auc']:.4f} for the best baseline, {base}.",
    ]
    train = facts.splits.loc["train"] if "train" in facts.splits.index else None
    test = facts.splits.loc["test"] if "test" in facts.splits.index else None
    if train is not None and test is not None:
        out.append(
            f"Trained on {int(train['rows']):,} rows ({100 * float(train['positive_rate']):.1f}% "
            f"positive), tested on {int(test['rows']):,} held-out rows of the test {part} "
            f"({100 * float(test['positive_rate']):.1f}% positive)."
        )
    t = facts.extra.get("test_threshold") or {}
    if t:
        out.append(
            f"At the threshold {facts.extra['threshold']['value']:.4f} chosen on the validation "
            f"{part}, the model flags {100 * t['positive_share']:.1f}% of test rows with precision "
            f"{t['precision']:.3f} and recall {t['recall']:.3f}."
        )
    return out
