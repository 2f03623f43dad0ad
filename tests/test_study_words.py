"""Report pages speak of the study they ran on: the nouns come from the study (its feature spec's
:class:`~tabstudy.spec.Words`), the flights keep their wording, a table gets its own; numbers are
shown the way a reader expects (slices in numeric order, counts with sensible units)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabstudy import config, eda, evaluation, studies
from tabstudy.backtest.retraining import rows_text
from tabstudy.monitoring import alerts
from tabstudy.monitoring.report import performance_note
from tabstudy.pipeline.materialize import summary_line
from tabstudy.spec import Feature, FeatureSet, Words
from tabstudy.studies.flights import features as flights
from tabstudy.studies.table import features as table

from .conftest import FLIGHTS_WORDS

FLIGHTS_ABOUT = (
    "For the flights study: `y = 1` when the flight arrived 15 or more minutes late "
    "(`target.delay_minutes`). Cancelled and diverted flights have no arrival delay; with "
    "`target.unresolved: drop` (the default) they are removed, with `positive` they count as "
    "late. The prediction is made `features.horizon_hours` (2 h) before the scheduled departure, "
    "and every feature is known then: schedule fields, static plane attributes, the latest "
    "weather observed at the origin at or before the prediction time (an as-of join), departures "
    "scheduled at the origin in the same hour, days to the nearest holiday, and historical late "
    "rates per route, carrier and origin over 7 and 28 days computed only from flights whose "
    "outcome was known before the prediction time. The flight's own departure/arrival times and "
    "delays are never used. The split is time-ordered: train until "
    "`features.split.valid_start`, validation until `test_start`, test after "
    "(Jan–Aug / Sep–Oct / Nov–Dec)."
)
"""The flights' features page paragraph as it stood before it was computed from the params."""


def _cfg(profile: str = "full") -> config.StageConfig:
    params = config.load_params()
    params["profile"] = profile
    resolved = config.resolve(params)
    sections = {k: resolved[k] for k in ("data", "target", "features")}
    return studies.stage_config(resolved["profile"], resolved["seed"], **sections)


def test_the_spec_carries_its_words_through_json() -> None:
    spec = FeatureSet((Feature("a", "numeric", "t", "row", "a"),), words=flights.WORDS)
    assert FeatureSet.from_dict(spec.to_dict()) == spec
    older = {k: v for k, v in spec.to_dict().items() if k != "words"}  # a spec written before
    assert FeatureSet.from_dict(older).words == Words()


def test_the_flights_keep_their_wording() -> None:
    cfg = _cfg()
    assert flights.about(cfg.target, cfg.features) == FLIGHTS_ABOUT
    note = performance_note(flights.WORDS)
    assert "(`monitor.label_delay_days` after the flight)" in note
    assert "how likely each flight is late" in note and "relate to delays" in note


def test_a_table_gets_its_own_words() -> None:
    cfg = _cfg("smoke,breast_cancer")
    about = table.about(cfg.target, cfg.features)
    assert "`target.column` ('diagnosis')" in about and "stratified random" in about
    timed = Words.of_table("applied_at")
    assert timed.time == "`applied_at`" and timed.event == "the row's `applied_at`"
    for words in (Words(), timed):
        text = about + performance_note(words)
        assert not FLIGHTS_WORDS.search(text), FLIGHTS_WORDS.search(text)
    assert "after the row's `applied_at`" in performance_note(timed)
    assert "no time axis: every label is known" in performance_note(Words())


def _performance() -> pd.DataFrame:
    """Two labelled windows outside the estimate's interval and one still waiting."""
    return pd.DataFrame({
        "window": ["w1", "w2", "w3"], "rows": [50, 50, 50], "est_auc": [0.7, 0.7, 0.7],
        "est_auc_lo": [0.69] * 3, "est_auc_hi": [0.71] * 3, "roc_auc": [0.6, 0.5, np.nan],
        "labelled": [True, True, False],
    })  # fmt: skip


def test_monitor_findings_name_the_outcome_and_the_event_of_the_study() -> None:
    flight = " ".join(alerts.performance_sentences(_performance(), 7, flights.WORDS))
    assert "relation between features and delays moved" in flight
    assert "their labels arrive 7 days after the flight" in flight
    rows = " ".join(alerts.performance_sentences(_performance(), 7, Words.of_table("at")))
    assert "relation between features and the target moved" in rows
    assert "arrive 7 days after the row's `at`" in rows and not FLIGHTS_WORDS.search(rows)


def _eda(time: str | None, groups: list[str]) -> eda.EdaFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), eda.TARGET: rng.integers(0, 2, 200)})
    parts = ["month", "weekday of when"] if time else []
    return eda.EdaFrame(frame, "y = 1", parts, groups, ["x"], ["x"], {},
                        Words.of_table(time))  # fmt: skip


def test_eda_says_in_words_what_it_breaks_the_rate_down_by() -> None:
    assert eda.time_note(_eda("when", [])) == "Positive rate by month and weekday of `when`."
    assert eda.time_note(_eda(None, [])).startswith("No time axis: the rows have no time column")
    assert "No categorical column" in eda.groups_note(_eda(None, []))
    assert eda.groups_note(_eda(None, ["shop"])) == ""
    flight = eda.EdaFrame(pd.DataFrame(), "late", ["month", "weekday", "hour"], words=flights.WORDS)
    assert eda.time_note(flight) == (
        "Positive rate by month, weekday and hour of the scheduled departure."
    )


def test_eda_plots_are_never_an_empty_folder() -> None:
    """Every column numeric, no time: the quintile rates are the plots; with nothing to break
    down at all, the overall rate."""
    study = _eda(None, [])
    related = eda.relations(study.frame, ["x"])
    plots = eda.plot_tables(study, {}, related)
    assert list(plots) == ["rate_by_quintile_of_x"]
    assert list(plots["rate_by_quintile_of_x"]["quintile"]) == [1, 2, 3, 4, 5]
    overall = eda.plot_tables(study, {}, pd.DataFrame())["rate_overall"]
    assert overall.to_dict("records") == [{"rows": 200, "rate": study.frame[eda.TARGET].mean()}]
    shop = pd.DataFrame({"rate": [0.5], "rows": [10]}, index=pd.Index(["north"], name="shop"))
    assert list(eda.plot_tables(study, {"shop": shop}, pd.DataFrame())) == ["rate_by_shop"]


def test_numeric_slices_are_in_numeric_order() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "grade": np.tile([1.0, 10.0, 2.0, 2.5], 50),
        "size": rng.uniform(7.759, 23.09, 200),
        "shop": np.tile(["b", "a"], 100),
    })  # fmt: skip
    y = rng.integers(0, 2, 200)
    table = evaluation.slices.slice_table(
        frame, y, {"m": rng.random(200)}, ["size", "grade", "shop"]
    )
    assert list(table["slice"]) == ["grade"] * 4 + ["shop"] * 2 + ["size"] * 4
    assert list(table.loc[table["slice"] == "grade", "value"]) == ["1", "2", "2.5", "10"]
    assert list(table.loc[table["slice"] == "shop", "value"]) == ["a", "b"]
    bins = list(table.loc[table["slice"] == "size", "value"])
    lefts = [float(b[1:].split(",")[0]) for b in bins]
    assert lefts == sorted(lefts) and all(len(b) < 20 for b in bins), bins


def test_counts_are_printed_with_sensible_units() -> None:
    assert rows_text(1) == "1 row"
    assert rows_text(1234) == "1,234 rows" and rows_text(999_999) == "999,999 rows"
    assert rows_text(2_345_678) == "2.35 M rows"
    empty = summary_line("data/online/store.sqlite", {}, 0.1)
    assert "no tables (a table study has no entities" in empty and "{}" not in empty
    full = summary_line("s", {"weather": 26115, "planes": 3322}, 1.25)
    assert full == "online store s: 2 tables (weather 26,115 rows, planes 3,322 rows) in 1.2 s"
