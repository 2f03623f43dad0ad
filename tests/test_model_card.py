from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tabstudy import config, model_card
from tabstudy.studies.flights import features


@pytest.fixture
def facts(workdir) -> model_card.CardFacts:
    params = config.load_params()
    cfg = config.stage_config("full", 1, model_card=config.resolve(params)["model_card"])
    return model_card.CardFacts(
        config=cfg.model_card,
        features=pd.DataFrame([vars(f) for f in features.FEATURE_SPEC]),
        splits=pd.DataFrame(
            {
                "rows": [10, 5],
                "positive_rate": [0.2, 0.3],
                "first_date": ["2013-01-01", "2013-11-01"],
                "last_date": ["2013-10-31", "2013-12-31"],
            },
            index=pd.Index(["train", "test"], name="split"),
        ),
        scores=pd.DataFrame(
            {"roc_auc": [0.71234], "pr_auc": [0.4], "log_loss": [0.5], "brier": [0.16]},
            index=["model"],
        ),
        intervals={"model": [0.70, 0.72]},
        blessing={
            "blessed": False,
            "roc_auc": 0.71234,
            "best_baseline": "hgb",
            "best_baseline_roc_auc": 0.75,
            "min_roc_auc": 0.65,
            "max_gap": 0.02,
            "reasons": ["ROC AUC 0.7123 more than 0.0200 below hgb (0.7500)"],
        },
        hyperparameters={"units": 64},
        training={"epochs_run": 4, "best_epoch": 2},
        extra={
            "data_description": "some flights",
            "label_definition": "y = 1 when late",
            "threshold": {
                "value": 0.3,
                "rule": "max_f1",
                "false_negative_cost": 1.0,
                "precision": 0.4,
                "recall": 0.6,
            },
            "test_threshold": {"precision": 0.35, "recall": 0.55, "positive_share": 0.3},
        },
    )


def test_markdown_card_carries_the_numbers(facts) -> None:
    md = model_card.render(facts, "md")
    assert "0.7123 | [0.7000, 0.7200]" in md
    assert "NOT BLESSED" in md and "below hgb" in md
    assert all(f.name in md for f in features.FEATURE_SPEC)
    assert "**Label:** y = 1 when late" in md
    assert "**Decision threshold:** 0.3000" in md and "30.0% of rows flagged" in md


def test_html_card_is_escaped_and_complete(facts) -> None:
    html = model_card.render(facts, "html")
    assert html.startswith("<!DOCTYPE html>") and "0.7123" in html and "Limitations" in html


def test_unknown_format(facts) -> None:
    with pytest.raises(ValueError, match="pdf"):
        model_card.render(facts, "pdf")


def test_card_summary_is_computed_from_its_facts(facts) -> None:
    named = dataclasses.replace(facts, names={"model": "Keras MLP", "hgb": "the tree"})
    found = model_card.findings(named)
    assert found[0].startswith("Keras MLP is not blessed (ROC AUC 0.7123 more than")
    assert "[0.7000, 0.7200] against 0.7500 for the best baseline, the tree." in found[0]
    assert "Trained on 10 rows (20.0% positive), tested on 5 held-out rows" in found[1]
    assert "flags 30.0% of test rows with precision 0.350 and recall 0.550" in found[2]
    md = model_card.render(named, "md")
    assert "## Summary" in md and f"- {found[0]}" in md
    assert "| Keras MLP | 0.7123 |" in md and "(the tree, 0.7500)" in md


def test_table_study_card_speaks_of_a_random_split(facts) -> None:
    """A table study without a time column: rows as integers though the split table arrives as
    floats (dates missing), no 'window', inline code rendered as <code> in the HTML card."""
    splits = pd.DataFrame(
        {"rows": [1400.0, 300.0], "positive_rate": [0.2, 0.3],
         "first_date": [float("nan")] * 2, "last_date": [float("nan")] * 2},
        index=pd.Index(["train", "test"], name="split"),
    )  # fmt: skip
    extra = {**facts.extra, "part": "split",
             "data_description": "Table `churn.csv`, target `churn == \"yes\"` <b>"}  # fmt: skip
    table = dataclasses.replace(facts, splits=splits, extra=extra)
    md = model_card.render(table, "md")
    assert "| train | 1,400 | 0.200 | n/a | n/a |" in md
    assert "window" not in md.split("## Limitations")[0]
    assert "on the validation split by the rule" in md and "on the test split precision" in md
    html = model_card.render(table, "html")
    assert "<code>churn.csv</code>" in html and "<code>churn == &#34;yes&#34;</code>" in html
    assert "&lt;b&gt;" in html and "`" not in html.split("<h2>Limitations")[0]
    assert "1400.0" not in html and ">1,400<" in html
