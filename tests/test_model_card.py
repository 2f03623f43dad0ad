from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from tabstudy import artifacts, config, model_card, provenance
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
                "rows": [10000, 5000],
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
    assert ("| split | rows | positive rate | first date | last date |\n|---|---:|---:|---|---|\n"
            "| train | 10,000 | 0.200 | 2013-01-01 | 2013-10-31 |\n") in md  # fmt: skip


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
    assert "Trained on 10,000 rows (20.0% positive), tested on 5,000 held-out rows" in found[1]
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
    assert ("| split | rows | positive rate |\n|---|---:|---:|\n| train | 1,400 | 0.200 |\n"
            "| test | 300 | 0.300 |\n") in md and "first date" not in md  # fmt: skip
    assert "window" not in md.split("## Limitations")[0]
    assert "on the validation split by the rule" in md and "on the test split precision" in md
    html = model_card.render(table, "html")
    assert "<code>churn.csv</code>" in html and "<code>churn == &#34;yes&#34;</code>" in html
    assert "&lt;b&gt;" in html and "`" not in html.split('<h2 id="limitations">')[0]
    assert "1400.0" not in html and ">1,400<" in html and "first date" not in html
    assert "<th>positive rate</th></tr>" in html


SLICES = pd.DataFrame(
    {
        "slice": ["carrier", "carrier", "carrier", "origin"],
        "value": ["AA", "HA", "OO", "JFK"],
        "rows": [900, 40, 3, 1000],
        "positive_rate": [0.2, 0.1, 0.0, 0.25],
        "auc_model": [0.69, 0.75, float("nan"), 0.71],
        "auc_hgb": [0.68, 0.7, float("nan"), 0.7],
    }
)
CALIBRATION = pd.DataFrame(
    {"mean_predicted": [0.1, 0.5], "fraction_positive": [0.2, 0.45], "count": [300, 100]}
)
PROMOTION = {
    "decision": "refuse",
    "reasons": ["carrier=AA ROC AUC dropped 0.0300 (more than 0.0200)"],
    "challenger": {"digest": "f" * 64},
    "champion": {"version": "3", "digest": "e" * 64, "commit": "c" * 40},
    "overall": {"challenger_roc_auc": 0.71234, "champion_roc_auc": 0.715, "diff": -0.0027,
                "lo": -0.006, "hi": 0.001},
    "slices": [{"column": "carrier", "value": "AA", "rows": 900, "diff": -0.03, "lo": -0.05,
                "hi": -0.01, "blocks": True}],
    "max_drop": 0.02,
    "min_slice_rows": 100,
    "version": None,
}  # fmt: skip


@pytest.fixture
def full(facts, tmp_path):
    """The card with every optional fact: slices, calibration, monitoring, promotion,
    provenance over a tiny raw data dir, coverage."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "flights.parquet").write_bytes(b"PAR1 one")
    (raw / "weather.parquet").write_bytes(b"PAR1 two")
    prov = provenance.card_provenance(
        {"commit": "a" * 40, "dirty": False}, {"model.keras": "b" * 64}, raw, tmp_path
    )
    return dataclasses.replace(
        facts,
        slices=SLICES,
        calibration=CALIBRATION,
        monitoring=["3 of 28 features drifted beyond PSI 0.25."],
        promotion=PROMOTION,
        provenance=prov,
        coverage=model_card.coverage({"rows": {"flights": 20000, "planes": 4}}, facts.splits),
    )


def test_slices_are_flagged_below_the_interval_and_for_few_rows() -> None:
    out = model_card.slice_results(SLICES, [0.70, 0.72], 100)
    assert out["below_ci"].tolist() == [True, False, False, False]
    assert out["few_rows"].tolist() == [False, True, True, False]  # 40 < 100; OO unscored
    unscored_only = model_card.slice_results(SLICES, [0.70, 0.72], None)
    assert unscored_only["few_rows"].tolist() == [False, False, True, False]
    assert model_card.slice_label(out.iloc[0]) == "carrier=AA"


def test_calibration_summary() -> None:
    cal = model_card.calibration_summary(CALIBRATION)
    assert cal["ece"] == pytest.approx(0.75 * 0.1 + 0.25 * 0.05)
    assert cal["max_gap"] == pytest.approx(0.1) and cal["rows"] == 400 and cal["bins"] == 2
    assert cal["mean_gap"] == pytest.approx(0.75 * 0.1 - 0.25 * 0.05)  # > 0: under-predicts


def test_coverage_counts_rows_in_no_split(facts) -> None:
    cov = model_card.coverage({"rows": {"flights": 20000, "planes": 4}}, facts.splits)
    assert cov == {"table": "flights", "source_rows": 20000, "split_rows": 15000,
                   "left_out": 5000, "share": 0.25}  # fmt: skip
    assert model_card.coverage({"sha256": "x"}, facts.splits) is None  # older ingest metrics
    assert model_card.coverage({"rows": {"t": 10}}, facts.splits) is None  # inconsistent
    md = model_card.render(dataclasses.replace(facts, coverage=cov), "md")
    left_out = "5,000 of the 20,000 rows of the flights table (25.0%) are in no split."
    assert f"(the evaluation data).\n{left_out}\n" in md
    whole = model_card.coverage({"rows": {"t": 15000}}, facts.splits)
    for fmt in ("md", "html"):
        text = model_card.render(dataclasses.replace(facts, coverage=whole), fmt)
        assert "All 15,000 rows of the t table are in a split." in text and "no split" not in text


def test_intended_use_is_split_into_in_and_out_of_scope() -> None:
    use, out = model_card.split_use("Teaching: estimate delays. Not for operations. Do not rank.")
    assert use == ["Teaching: estimate delays."]
    assert out == ["Not for operations.", "Do not rank."]


def test_promotion_sentences() -> None:
    refused = model_card.promotion_sentence(PROMOTION)
    assert refused.startswith("The promotion gate refuses this bundle: test ROC AUC 0.7123")
    assert "against 0.7150 for the champion (version 3), difference -0.0027" in refused
    assert refused.endswith(
        "[-0.0060, +0.0010]; carrier=AA ROC AUC dropped 0.0300 (more than 0.0200)."
    )
    first = {**PROMOTION, "decision": "promote", "champion": None, "overall": None,
             "reasons": [], "version": "1"}  # fmt: skip
    assert model_card.promotion_sentence(first) == (
        "The promotion gate promotes this bundle (version 1): there is no champion yet."
    )
    same = {**PROMOTION, "decision": "champion", "version": "3"}
    assert (
        model_card.promotion_sentence(same) == "This bundle is the registered champion (version 3)."
    )
    assert model_card.promotion_sentence(None) is None


def test_findings_end_with_the_promotion_decision(full, facts) -> None:
    assert model_card.findings(full)[-1] == model_card.promotion_sentence(PROMOTION)
    assert len(model_card.findings(facts)) == len(model_card.findings(full)) - 1


def test_full_card_has_every_section(full) -> None:
    md = model_card.render(full, "md")
    for heading in ("Model details", "Out-of-scope use", "Results by slice", "Calibration",
                    "Monitoring", "Champion comparison and promotion", "Ethical considerations",
                    "Provenance"):  # fmt: skip
        assert f"## {heading}" in md or f"### {heading}" in md
    assert "| carrier | AA | 900 | 0.200 | 0.6900 | below CI |" in md
    assert "| carrier | OO | 3 | 0.000 | n/a | few rows |" in md
    assert "fewer than 100 test rows" in md and "carrier=HA (40 rows, ROC AUC 0.7500)" in md
    assert "Expected calibration error 0.0875" in md and "| 0.1000 | 0.2000 | +0.1000 | 300 |" in md
    assert "- 3 of 28 features drifted beyond PSI 0.25." in md
    assert "| carrier=AA | 900 | -0.0300 | [-0.0500, -0.0100] | yes |" in md
    assert "5,000 of the 20,000 rows of the flights table (25.0%) are in no split." in md
    dated = ("(SOURCE_DATE_EPOCH)", "(commit date)", f"({provenance.NO_DATE})")
    assert any(source in md for source in dated)
    html = model_card.render(full, "html")
    assert 'class="flagged"' in html and "Provenance</h2>" in html and "few rows" in html


def test_rendered_card_shows_the_new_raw_data_hash(full, tmp_path) -> None:
    """One byte changed in a raw data file: the card's data hash changes, before dvc.lock."""
    old = full.provenance["raw_data"]["sha256"]
    (tmp_path / "raw" / "weather.parquet").write_bytes(b"PAR1 twO")
    prov = provenance.card_provenance(full.provenance["model_code"], {}, tmp_path / "raw", tmp_path)
    new = prov["raw_data"]["sha256"]
    assert new != old
    changed = dataclasses.replace(full, provenance=prov)
    for fmt in ("md", "html"):
        assert old in model_card.render(full, fmt) and old not in model_card.render(changed, fmt)
        assert new in model_card.render(changed, fmt)
    assert model_card.card_json(changed)["provenance"]["raw_data"]["sha256"] == new


def test_card_json_follows_the_model_card_toolkit_fields(full) -> None:
    card = json.loads(artifacts.json_text(model_card.card_json(full)))  # serialisable
    assert card["schema_version"] == model_card.MCT_SCHEMA_VERSION
    details = card["model_details"]
    assert details["name"] == full.config.title and details["owners"] == [
        {"name": full.config.owner}
    ]
    assert details["version"]["name"] == "unregistered"
    assert [d["name"] for d in card["model_parameters"]["data"]] == ["train split", "test split"]
    assert card["model_parameters"]["data"][0]["rows"] == 10000
    metrics = card["quantitative_analysis"]["performance_metrics"]
    ci = {"lower_bound": "0.7", "upper_bound": "0.72"}
    assert metrics[0] == {
        "type": "roc_auc", "value": "0.71234", "slice": "overall", "confidence_interval": ci
    }  # fmt: skip
    assert {"type": "roc_auc", "value": "0.69", "slice": "carrier=AA"} in metrics
    assert not any(m["slice"] == "carrier=OO" for m in metrics)  # unscored
    assert any(m["type"] == "expected_calibration_error" for m in metrics)
    cons = card["considerations"]
    assert {
        "description": "Not for operational decisions or for judging individual airlines."
    } in cons["limitations"]
    assert all(set(e) == {"name", "mitigation_strategy"} for e in cons["ethical_considerations"])
    assert card["promotion"]["decision"] == "refuse" and card["provenance"]["raw_data"]["sha256"]


def test_optional_inputs_absent(tmp_path) -> None:
    assert model_card.optional_csv(tmp_path / "slices.csv") is None
    assert model_card.optional_json(tmp_path / "monitor.json") is None
    (tmp_path / "monitor.json").write_text('["a sentence"]')
    assert model_card.optional_json(tmp_path / "monitor.json") == ["a sentence"]


def test_an_imbalanced_study_gets_a_caution_and_pr_auc_in_the_headline(facts) -> None:
    splits = facts.splits.assign(rows=[20000, 2000], positive_rate=[0.05, 0.04])
    rare = dataclasses.replace(facts, splits=splits)
    found = model_card.findings(rare)
    assert "(PR AUC 0.4000; chance level 0.0400)" in found[0]
    (caution,) = [f for f in found if f.startswith("Caution:")]
    assert "only 5.0% of training rows are positive" in caution
    assert "fewer than 100" in caution and "80 positive(s)" in caution
    balanced = dataclasses.replace(facts, splits=facts.splits.assign(rows=[20000, 2000]))
    assert not any(f.startswith("Caution:") for f in model_card.findings(balanced))
    assert "PR AUC" not in model_card.findings(balanced)[0]


def test_a_suspiciously_perfect_score_is_stamped_on_the_card(facts) -> None:
    warning = "suspiciously perfect: test ROC AUC 0.9990 is above features.leakage_auc 0.98"
    stamped = dataclasses.replace(facts, blessing={**facts.blessing, "warnings": [warning]})
    assert f"**WARNING:** {warning}" in model_card.render(stamped, "md")
    assert warning in model_card.render(stamped, "html")
    assert any(f.startswith("WARNING: suspiciously perfect") for f in model_card.findings(stamped))


def test_accepted_leaky_features_and_their_reasons_are_in_the_card(facts) -> None:
    text = model_card.leakage_text(0.98, {"tenure_days": "known at sign-up"}, ("tenure_days", 0.99))
    assert "`tenure_days`: known at sign-up" in text and "0.98" in text
    assert "`tenure_days`, reaches ROC AUC 0.9900 alone on the training window, above" in text
    clean = model_card.leakage_text(0.98, {}, ("dep_hour", 0.64))
    assert clean.endswith("the strongest single feature, `dep_hour`, reaches ROC AUC 0.6400 "
                          "alone on the training window, within the bound.")  # fmt: skip
    assert model_card.leakage_text(None, {}) == ""
    carded = dataclasses.replace(facts, extra={**facts.extra, "leakage": text})
    assert "`tenure_days`: known at sign-up" in model_card.render(carded, "md")
    assert "<code>tenure_days</code>: known at sign-up" in model_card.render(carded, "html")


def test_a_card_written_for_another_study_gets_neutral_words(facts) -> None:
    flights = facts.config
    assert model_card.for_study(flights, "nycflights13", "y = 1 when late") is flights
    with pytest.warns(model_card.ModelCardWarning, match="model_card.study is 'nycflights13'"):
        neutral = model_card.for_study(flights, "file", "y = 1 when column 'churn' equals 'yes'.")
    assert neutral.title == "A model of: y = 1 when column 'churn' equals 'yes'"
    md = model_card.render(dataclasses.replace(facts, config=neutral), "md")
    assert "flight" not in " ".join([neutral.title, neutral.intended_use, *neutral.limitations])
    assert "set model_card.intended_use" in md
