"""The ``model_card`` stage: the model card (Markdown, HTML and JSON) from what the earlier
stages measured: data and split, scores with intervals, slices, calibration, blessing, the
time-aware results, monitoring, promotion and provenance."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tabstudy import artifacts, config, evaluation, paths, provenance, reporting
from tabstudy import model_card as cards
from tabstudy.models.bundle import load_bundle
from tabstudy.stages.base import Stage, metrics, rel, transaction

STAGE = Stage(
    "model_card",
    ("model_card",),
    deps=(
        rel(paths.bundle_dir()),
        rel(paths.raw_dir()),
        rel(paths.processed_dir()),
        metrics("ingest"),
        metrics("features"),
        metrics("train"),
        metrics("evaluate"),
        rel(paths.plots_dir("evaluate")),
        rel(paths.findings_file("monitor")),
        rel(paths.findings_file("backtest")),
        metrics("backtest"),
        metrics("monitor"),
        rel(paths.root() / "requirements.lock"),
    ),
    outs=(
        rel(paths.model_card("md")),
        rel(paths.model_card("html")),
        rel(paths.model_card("json")),
        rel(paths.findings_file("model_card")),
    ),
)


@dataclass(frozen=True)
class Result:
    """The facts the card shows, its Markdown and its findings."""

    facts: cards.CardFacts
    markdown: str
    findings: list[str]


@transaction(STAGE)
def run(cfg: config.StageConfig) -> Result:
    """Gather the facts and write the card (``model_card`` section: the study's words)."""
    facts = gather(cfg.model_card)
    markdown = cards.render(facts, "md")
    artifacts.write_text(markdown, paths.model_card("md"))
    artifacts.write_text(cards.render(facts, "html"), paths.model_card("html"))
    artifacts.write_json(cards.card_json(facts), paths.model_card("json"))
    found = cards.findings(facts)
    reporting.publish_findings(found, "model_card")
    return Result(facts, markdown, found)


def gather(words: config.ModelCardConfig) -> cards.CardFacts:
    """Every fact the card shows, read from the earlier stages' outputs."""
    bundle = load_bundle(paths.bundle_dir())
    evaluate = artifacts.read_json(paths.metrics_file("evaluate"))
    ingest = artifacts.read_json(paths.metrics_file("ingest"))
    splits = pd.DataFrame(
        artifacts.read_json(paths.metrics_file("features"))["splits"]
    ).T.rename_axis("split")
    plots = paths.plots_dir
    return cards.CardFacts(
        config=cards.for_study(words, bundle.spec.study, bundle.spec.label_definition),
        features=bundle.spec.table(),
        splits=splits,
        scores=pd.DataFrame(evaluate["test"]).T.sort_values("roc_auc", ascending=False),
        intervals=evaluate["roc_auc_ci95"],
        blessing=evaluate["blessing"],
        hyperparameters=bundle.metadata["hyperparameters"],
        training=artifacts.read_json(paths.metrics_file("train")),
        extra=cards.data_facts(bundle, evaluate, ingest),
        names=evaluation.metrics.MODEL_NAMES,
        slices=cards.optional_csv(plots("evaluate") / "slices.csv", dtype={"value": str}),
        calibration=cards.optional_csv(plots("evaluate") / "calibration_model.csv"),
        monitoring=cards.optional_json(paths.findings_file("monitor")) or [],
        over_time=cards.optional_json(paths.findings_file("backtest")) or [],
        rolling=cards.optional_csv(plots("backtest") / "rolling_summary.csv"),
        promotion=evaluate.get("promotion"),
        provenance=provenance.card_provenance(
            bundle.metadata.get("code", {}), bundle.metadata.get("files", {})
        ),
        coverage=cards.coverage(ingest, splits),
    )
