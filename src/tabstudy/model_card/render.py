"""The model card rendered in Markdown and HTML (Jinja templates in ``tabstudy/templates``)."""

from __future__ import annotations

import re
from typing import Any

import jinja2
import markupsafe

from tabstudy.model_card.facts import CardFacts
from tabstudy.model_card.format import interval, number
from tabstudy.model_card.text import ARCHITECTURE, derived, findings

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
    env.filters["num"] = number
    env.filters["ci"] = interval
    return env


def _context(facts: CardFacts) -> dict[str, Any]:
    view = derived(facts)
    slices = view["slices"]
    if slices is not None:
        slices = slices.astype(object).where(slices.notna(), None)
    scores = facts.scores.reset_index(names="model")
    scores["name"] = [facts.names.get(m, m) for m in scores["model"]]
    splits = facts.splits.reset_index()
    splits["rows"] = splits["rows"].astype(int)
    dated = "first_date" in splits and bool(splits["first_date"].notna().any())
    for column in ("first_date", "last_date"):
        if column in splits:
            splits[column] = splits[column].where(splits[column].notna(), "n/a")
    return {
        "card": facts.config,
        "features": facts.features.to_dict("records"),
        "splits": splits.to_dict("records"),
        "dated": dated,  # rows without time: no date columns
        "scores": scores.to_dict("records"),
        "names": facts.names,
        "findings": findings(facts),
        "intervals": facts.intervals,
        "blessing": facts.blessing,
        "hparams": facts.hyperparameters,
        "training": facts.training,
        "extra": {"part": "split", **facts.extra},
        "architecture": ARCHITECTURE,
        "view": {**view, "slices": None if slices is None else slices.to_dict("records")},
        "calibration_bins": (
            [] if facts.calibration is None else facts.calibration.to_dict("records")
        ),
        "monitoring": facts.monitoring,
        "over_time": facts.over_time,
        "rolling": None if facts.rolling is None else facts.rolling.to_dict("records"),
        "promotion": facts.promotion,
        "provenance": facts.provenance,
        "coverage": facts.coverage,
    }


def render(facts: CardFacts, fmt: str) -> str:
    """Render the card as ``'md'`` or ``'html'`` (:func:`card_json` gives the JSON)."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown model card format {fmt!r}; use 'md' or 'html'")
    return _env().get_template(f"model_card.{fmt}.j2").render(**_context(facts))
