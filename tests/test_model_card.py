from __future__ import annotations

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
