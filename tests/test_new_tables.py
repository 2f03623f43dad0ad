"""Two tables the study has never seen, through real `dvc repro`, as a new user runs them:

* a 3,000-row CSV with a yes/no target and no time column, with the flights study's search and
  training settings: the grids, batch sizes and epoch caps are sized to it and the console says
  so;
* a Parquet file with missing values and a time column: a time-ordered split, the missing share
  over the contract's threshold printed on the console, and reports that speak of that table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tabstudy import reporting
from tabstudy.data import examples
from tabstudy.pipeline.stages import COMMANDS, STAGES

from .conftest import FLIGHTS_WORDS, copy_repo, run_in, set_params, stages_ran

ALL_STAGES = len(STAGES) + len(COMMANDS)  # every stage runs on a new table

pytestmark = pytest.mark.slow

TABLE_FEATURES = {"categorical": None, "numeric": None, "exclude": [], "valid_frac": 0.15,
                  "test_frac": 0.15, "reference_bins": 10, "leakage_auc": 0.98,
                  "allow_leaky": {}}  # fmt: skip


def _project(tmp: Path, name: str, frame: pd.DataFrame, suffix: str, profile: str,
             **keys: object) -> Path:  # fmt: skip
    work = copy_repo(tmp / "repo")
    data = work / "external" / f"{name}{suffix}"
    frame.to_parquet(data) if suffix == ".parquet" else frame.to_csv(data, index=False)
    run_in(work, "python", "-m", "tabstudy", "contract", "infer", str(data.relative_to(work)),
           "--output", f"contracts/{name}.yaml")  # fmt: skip
    set_params(
        work,
        profile=profile,
        **{
            f"data.profiles.{name}": {"source": "file", "path": f"external/{name}{suffix}",
                                      "delimiter": ",", "sample_frac": 1.0},
            f"validate.profiles.{name}": {"contract": f"contracts/{name}.yaml"},
            **keys,
        },
    )  # fmt: skip
    run_in(work, "git", "init", "-q")
    return work


def _json(work: Path, rel: str) -> object:
    return json.loads((work / rel).read_text())


def test_a_small_table_gets_a_search_sized_to_it(tmp_path) -> None:
    work = _project(
        tmp_path, "customers", examples.customers(), ".csv", "customers",
        **{"target.profiles.customers": {"column": "churned", "positive": "yes"},
           "features.profiles.customers": {**TABLE_FEATURES, "time_column": None,
                                            "slices": ["plan"]}},
    )  # fmt: skip
    out = run_in(work, "dvc", "repro")
    log = out.stdout + out.stderr
    assert len(stages_ran(out.stdout)) == ALL_STAGES
    assert "SizingWarning: baselines.hgb_min_samples_leaf [400, 1600, 6400]" in log
    assert "SizingWarning: tune.batch_size [1024, 4096] leaves fewer than 20 steps" in log
    assert "SizingWarning: train.epochs 30 allows fewer than train.min_steps 2000" in log
    train_rows = _json(work, "reports/metrics/detail/features.json")["splits"]["train"]["rows"]
    search = pd.read_csv(work / "reports" / "plots" / "baselines" / "hgb_search.csv")
    ladder = {max(1, round(s * train_rows)) for s in (0.002, 0.01, 0.05)}
    assert set(search["min_samples_leaf"]) <= ladder
    trials = pd.read_csv(work / "reports" / "plots" / "tune" / "trials.csv")
    assert set(trials["batch_size"]) == {64} and len(trials) == 6
    assert (trials["chosen_by"] == "model").sum() == 3  # the Bayesian search leaves random
    evaluate = _json(work, "reports/metrics/detail/evaluate.json")
    assert evaluate["test"]["model"]["roc_auc"] > 0.65
    card = (work / "reports" / "model_card.md").read_text()
    assert "y = 1 when column 'churned' equals 'yes'" in card
    assert "split at random (stratified by the target)" in card
    # no time column: no invented dates, and the monitor says why it watched no time axis
    assert "- No time axis: the rows have no time column" in card
    assert "1970" not in card and "1970" not in (work / "reports" / "model_card.html").read_text()
    monitor_page = (work / "reports" / "html" / "10-monitor.html").read_text()
    assert "1970" not in monitor_page and "test split (no time axis)" in monitor_page
    assert "SizingWarning: baselines.lgbm_min_child_samples 400 needs more than 10%" in log


def test_a_parquet_table_with_gaps_and_a_time_column(tmp_path) -> None:
    work = _project(
        tmp_path, "credit", examples.credit(), ".parquet", "smoke,credit",
        **{"target.profiles.credit": {"column": "status", "positive": "bad"},
           "features.profiles.credit": {**TABLE_FEATURES, "time_column": "applied_at",
                                        "slices": ["region"]},
           # the card's texts, as the README asks (the defaults describe the flights)
           "model_card.profiles.credit": {"study": "file",
                                          "title": "Will a credit application go bad?",
                                          "intended_use": "A test of a table with a time column.",
                                          "limitations": ["Generated data."]}},
    )  # fmt: skip
    out = run_in(work, "dvc", "repro")
    log = out.stdout + out.stderr
    assert len(stages_ran(out.stdout)) == ALL_STAGES
    assert "stage 'validate' succeeded with" in log
    assert "DataQualityWarning: table 'credit', column 'income': missing share 8." in log
    splits = _json(work, "reports/metrics/detail/features.json")["splits"]
    assert splits["train"]["last_date"] <= splits["valid"]["first_date"]
    assert splits["valid"]["last_date"] <= splits["test"]["first_date"]
    spec = _json(work, "data/processed/feature_spec.json")
    assert spec["label_definition"] == "y = 1 when column 'status' equals 'bad'."
    assert "split by time" in spec["description"]
    features_page = (work / "reports" / "html" / "04-features.html").read_text()
    assert "y = 1 when column 'status' equals 'bad'" in features_page
    assert "flight" not in _json(work, "reports/findings/eda.json")[0]
    eda_page = (work / "reports" / "html" / "03-eda.html").read_text()
    assert "weekday of applied_at" in eda_page  # derived beside the table's own weekday
    assert {"weekday", "month", "hour"} <= {f["name"] for f in spec["features"]}
    assert "Positive rate by month, weekday and hour of <code>applied_at</code>" in eda_page
    for page in (*(work / "reports" / "html").glob("*.html"), work / "reports/model_card.html"):
        html = page.read_text()  # a time axis: monitor, backtest and card speak of applied_at
        assert not FLIGHTS_WORDS.search(reporting.visible_text(html)), page.name
        assert reporting.page_problems(html) == [], page.name


def test_a_leaky_column_stops_the_run_until_accepted_with_a_reason(tmp_path) -> None:
    """A column that is part of the outcome stops the features stage naming it and its AUC; the
    override lets it through with its reason in the card, and the near-perfect test score is
    then refused until it too is accepted (and stamped on the card and the gate)."""
    features = {**TABLE_FEATURES, "time_column": None, "slices": []}
    work = _project(
        tmp_path, "sensors", examples.sensors(), ".csv", "smoke,sensors",
        **{"target.profiles.sensors": {"column": "load", "positive": "busy"},
           "features.profiles.sensors": features},
    )  # fmt: skip
    out = run_in(work, "dvc", "repro", check=False)
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "stage 'features' FAILED" in log, log
    assert "suspected label leakage" in log and "features.allow_leaky" in log, log
    assert "feature 'registered' (numeric) alone reaches ROC AUC 0.9" in log, log
    assert not (work / "data" / "processed" / "feature_spec.json").exists()
    assert "feature 'casual'" not in log  # alone, the smaller part of the outcome passes ...
    reasons = {"registered": "counted before the hour starts (test of the override)"}
    set_params(work, **{"features.profiles.sensors": {**features, "allow_leaky": reasons}})
    out = run_in(work, "dvc", "repro")
    log = out.stdout + out.stderr
    evaluate = _json(work, "reports/metrics/detail/evaluate.json")
    assert not evaluate["blessing"]["blessed"], evaluate["blessing"]
    assert "suspiciously perfect" in evaluate["blessing"]["reasons"][0]
    assert "champion gate: REFUSE" in log and "suspiciously perfect" in log, log
    card = (work / "reports" / "model_card.md").read_text()
    assert "`registered`: counted before the hour starts (test of the override)" in card
    assert "NOT BLESSED (suspiciously perfect" in card
    set_params(work, **{"evaluate.profiles.sensors": {"allow_near_perfect": "a test fixture"}})
    out = run_in(work, "dvc", "repro")
    log = out.stdout + out.stderr
    assert "champion gate: PROMOTE" in log and "[WARNING: suspiciously perfect" in log, log
    card = (work / "reports" / "model_card.md").read_text()
    assert "**WARNING:** suspiciously perfect" in card and "a test fixture" in card
