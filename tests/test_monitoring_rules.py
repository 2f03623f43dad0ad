"""The alert rules as data: their parameters checked against the declarations, the unseen-
categories rule on a stream whose truth is known, and a new rule that needs nothing but its
declaration and its parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tabstudy.config import ConfigError
from tabstudy.monitoring import alerts as al
from tabstudy.monitoring import rules
from tabstudy.spec import MISSING_CATEGORY

REPO = Path(__file__).resolve().parents[1]
GOOD = {"feature_drift": {"max_drifted_share": 0.25},
        "unseen_categories": {"max_unseen_share": 0.05}}  # fmt: skip


def test_params_yaml_declares_every_rules_parameters() -> None:
    section = yaml.safe_load((REPO / "params.yaml").read_text())["monitor"]["rules"]
    limits = rules.thresholds(section)
    assert list(limits) == list(rules.names())
    for rule in rules.RULES:
        assert set(limits[rule.name]) == {p.name for p in rule.params}


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({**GOOD, "feature_drfit": {}}, "monitor.rules.feature_drfit: no such rule"),
        ({**GOOD, "feature_drift": {"max_drifted_shar": 0.2}},
         "monitor.rules.feature_drift.max_drifted_shar: not a parameter"),
        ({"feature_drift": GOOD["feature_drift"]},
         "monitor.rules.unseen_categories.max_unseen_share: missing"),
        ({**GOOD, "unseen_categories": {"max_unseen_share": 1.5}},
         "monitor.rules.unseen_categories.max_unseen_share: 1.5 is outside [0, 1]"),
        ({**GOOD, "feature_drift": {"max_drifted_share": "a lot"}},
         "monitor.rules.feature_drift.max_drifted_share: expected a number, got 'a lot'"),
        ({**GOOD, "blessing": {"min": 0.7}}, "monitor.rules.blessing.min: not a parameter"),
    ],
)  # fmt: skip
def test_a_bad_rules_section_names_the_key(section, key) -> None:
    with pytest.raises(ConfigError) as err:
        rules.thresholds(section)
    assert str(err.value).startswith(key), str(err.value)


def _stream(new_share: float, windows: int = 6, shift_from: int = 4) -> pd.DataFrame:
    """``windows`` windows of 1,000 rows with categories a-c (some missing); from window
    ``shift_from`` on, ``new_share`` of the rows carry the new category ``e``."""
    rng = np.random.default_rng(0)
    parts = []
    for i in range(1, windows + 1):
        c = rng.choice(["a", "b", "c", None, MISSING_CATEGORY], 1000,
                       p=[0.4, 0.3, 0.2, 0.05, 0.05]).astype(object)  # fmt: skip
        if i >= shift_from:
            c[rng.random(1000) < new_share] = "e"
        parts.append(pd.DataFrame({"c": c, "d": rng.choice(["x", "y"], 1000), "window": f"w{i}"}))
    return pd.concat(parts, ignore_index=True)


def _evidence(unseen: pd.DataFrame) -> rules.Evidence:
    empty = pd.DataFrame(columns=["window", "rows", "features", "alerts", "drifted_share"])
    perf = pd.DataFrame(columns=["window", "rows", "est_auc", "labelled", "roc_auc"])
    return rules.Evidence(
        empty, pd.DataFrame(columns=["window", "psi"]), perf,
        {"roc_auc": 0.8, "auc_lo": 0.79, "auc_hi": 0.81}, 0.6, 7, 0.01, 0.25, 0.1,
        unseen=unseen,
    )  # fmt: skip


def test_unseen_categories_fire_from_the_window_the_new_value_appears() -> None:
    train = pd.DataFrame({"c": ["a", "b", "c", None], "d": ["x", "y", "x", "y"]})
    table = rules.unseen_shares(train, _stream(0.10), "window", ["c", "d"])
    by = table.set_index(["window", "feature"])["unseen_share"]
    assert by.loc[("w1", "c")] == 0.0  # None and the missing token are missing, not unseen
    assert 0.07 < by.loc[("w4", "c")] < 0.13 and by.loc[("w4", "d")] == 0.0
    limits = rules.thresholds(GOOD)
    fired = [a for a in rules.alerts(_evidence(table), limits) if a["rule"] == "unseen_categories"]
    assert [a["window"] for a in fired] == ["w4", "w5", "w6"]
    assert al.first_window(fired, "unseen_categories") == "w4"
    assert "had a c value the training rows never had (most often 'e')" in fired[0]["message"]
    said = rules.UNSEEN_CATEGORIES.sentences(_evidence(table), fired, limits["unseen_categories"])
    assert said[0].startswith("Unseen categories were flagged in 3 window(s) above 5.0%, first w4")


def test_a_few_unseen_values_below_the_threshold_fire_nothing() -> None:
    train = pd.DataFrame({"c": ["a", "b", "c"], "d": ["x", "y", "x"]})
    table = rules.unseen_shares(train, _stream(0.02), "window", ["c", "d"])
    limits = rules.thresholds(GOOD)
    assert not [a for a in rules.alerts(_evidence(table), limits)
                if a["rule"] == "unseen_categories"]  # fmt: skip
    said = rules.UNSEEN_CATEGORIES.sentences(_evidence(table), [], limits["unseen_categories"])
    assert said[0].startswith("No window had more than 5.0% unseen categories in a feature")
    assert "(c, window w" in said[0]


def test_a_new_rule_needs_only_its_declaration_and_its_parameters(monkeypatch) -> None:
    """The three places: the declaration (here, appended to RULES), its parameters (the
    section below) and this test. The loop, the order, the validation and the findings follow."""

    def check(ev: rules.Evidence, t: rules.Thresholds) -> list[dict]:
        return [al.alert(r.window, "too_many_rows", "rows", r.rows, t["max_rows"], "many rows")
                for r in ev.unseen.drop_duplicates("window").itertuples()
                if r.rows > t["max_rows"]]  # fmt: skip

    new = rules.Rule(
        "too_many_rows",
        check,
        lambda ev, fired, t: [f"{len(al.windows_of(fired, 'too_many_rows'))} window(s) too big."],
        (rules.Param("max_rows", 0, 1e9, "rows a window may have"),),
    )
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, new))
    limits = rules.thresholds({**GOOD, "too_many_rows": {"max_rows": 999}})
    train = pd.DataFrame({"c": ["a", "b", "c"], "d": ["x", "y", "x"]})
    evidence = _evidence(rules.unseen_shares(train, _stream(0.0), "window", ["c"]))
    fired = rules.alerts(evidence, limits)
    assert [a["window"] for a in fired if a["rule"] == "too_many_rows"] == [f"w{i}" for i in
                                                                           range(1, 7)]  # fmt: skip
    assert rules.findings(evidence, fired, limits)[-1] == "6 window(s) too big."
    with pytest.raises(ConfigError, match=r"too_many_rows\.max_rows: missing"):
        rules.thresholds(GOOD)
