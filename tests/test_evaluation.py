from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy import evaluation, monitoring


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.3 * y + rng.random(2000) * 0.7, 0, 1)
    return y, p


def test_metrics_on_perfect_and_known_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    m = evaluation.metrics.metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)


def test_bootstrap_interval_brackets_point_estimate(scored) -> None:
    y, p = scored
    lo, hi = evaluation.metrics.bootstrap_auc(y, p, samples=100, seed=1)
    assert lo < evaluation.metrics.metrics(y, p)["roc_auc"] < hi
    assert (lo, hi) == evaluation.metrics.bootstrap_auc(y, p, samples=100, seed=1)


def test_calibration_bins_are_equal_count(scored) -> None:
    y, p = scored
    cal = evaluation.metrics.calibration_points(y, p, bins=10)
    assert len(cal) == 10 and set(cal["count"]) == {200}
    assert cal["mean_predicted"].is_monotonic_increasing


def test_blessing_gate() -> None:
    scores = {"model": {"roc_auc": 0.70}, "hgb": {"roc_auc": 0.71}, "majority": {"roc_auc": 0.5}}
    ok = evaluation.gates.bless(scores, "model", ["hgb", "majority"], 0.65, 0.02)
    assert ok.blessed and ok.best_baseline == "hgb"
    bad = evaluation.gates.bless(scores, "model", ["hgb", "majority"], 0.75, 0.005)
    assert not bad.blessed and len(bad.reasons) == 2


def test_psi_zero_for_same_and_large_for_shifted() -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    ref = pd.Series(rng.normal(size=5000))
    assert monitoring.drift.numeric_psi(ref, ref, 10) == pytest.approx(0.0, abs=1e-9)
    assert monitoring.drift.numeric_psi(ref, ref + 2, 10) > 1.0
    cats = pd.Series(["a"] * 50 + ["b"] * 50)
    assert monitoring.drift.categorical_psi(cats, pd.Series(["a"] * 100)) > 0.25


def test_reference_stats_roundtrip_and_drift_status() -> None:
    import json

    import pandas as pd

    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    train.loc[::10, "x"] = np.nan
    ref = json.loads(json.dumps(monitoring.drift.reference_stats(train, ["c"], ["x"], bins=10)))
    assert len(ref["numeric"]["x"]["shares"]) == 11  # ten bins + missing
    assert sum(ref["numeric"]["x"]["shares"]) == pytest.approx(1.0)
    from tabstudy.monitoring import windows

    same = windows.feature_tests(train, train, ["c"], ["x"], 10, reference_stats=ref)
    assert same["psi"].max() < 1e-9
    moved = train.assign(x=train["x"] + 3, c="b")
    table = windows.feature_tests(train, moved, ["c"], ["x"], 10, reference_stats=ref)
    table = table.set_index("feature")
    assert (table["psi"] > 0.25).all() and (table["pvalue"] < 1e-9).all()
    direct = monitoring.drift.numeric_psi(train["x"], moved["x"], 10)
    assert direct == pytest.approx(table.loc["x", "psi"])


def test_threshold_rules_on_a_known_case() -> None:
    from tabstudy.evaluation.thresholds import at_threshold, choose_threshold

    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    best = choose_threshold(y, p, "max_f1")
    # p >= 0.3 flags 4 rows with 3 positives: F1 = 6/7, the best of all cuts
    assert best.value == 0.3 and abs(best.f1 - 6 / 7) < 1e-12
    assert (best.precision, best.recall, best.positive_share) == (0.75, 1.0, 4 / 6)
    # a false alarm costing as much as 10 misses: flag only the sure ones
    cautious = choose_threshold(y, p, "min_cost", false_negative_cost=0.1)
    assert cautious.value == 0.8 and cautious.precision == 1.0
    # a miss costing 10 false alarms: flag from the lowest positive score down
    eager = choose_threshold(y, p, "min_cost", false_negative_cost=10.0)
    assert eager.value == 0.3 and eager.recall == 1.0
    assert at_threshold(y, p, 0.95) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "positive_share": 0.0,
    }
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(y, p, "youden")


def test_paired_comparison_tells_tied_from_better() -> None:
    from tabstudy.evaluation.findings import evaluate_findings
    from tabstudy.evaluation.metrics import comparison_table
    from tabstudy.evaluation.slices import trailing_slices

    rng = np.random.default_rng(3)
    n = 3000
    y = (rng.random(n) < 0.3).astype(int)
    good = y + rng.normal(0, 0.8, n)
    probs = {"model": good, "twin": good + rng.normal(0, 1e-3, n), "noise": rng.normal(size=n)}
    table = comparison_table(y, probs, "model", ["twin", "noise"], samples=200, seed=0)
    assert (
        table.loc["twin", "verdict"] == "tied"
        and table.loc["twin", "lo"] < 0 < table.loc["twin", "hi"]
    )
    assert table.loc["noise", "verdict"] == "better" and table.loc["noise", "lo"] > 0.2
    slices = pd.DataFrame(
        {"slice": ["carrier"] * 3, "value": ["AA", "B6", "HA"], "rows": [900, 800, 50],
         "auc_model": [0.70, 0.64, 0.40], "auc_hgb": [0.70, 0.68, 0.60]}
    )  # fmt: skip
    trail = trailing_slices(slices, "model", "hgb", margin=0.01, min_rows=500)
    assert trail["value"].tolist() == ["B6"]  # HA trails more, but on 50 rows
    assert trailing_slices(slices, "model", "hgb", margin=0.5, min_rows=500).empty
    scores = {"model": {"roc_auc": 0.7}}
    found = evaluate_findings(scores, table, slices, {"model": "the MLP", "twin": "the twin"})
    assert found[1].startswith("the MLP is tied with the twin: ROC AUC difference")
    assert found[-1] == ("the MLP trails the tree by more than 0.01 ROC AUC in: carrier B6 "
                         "(-0.040, 800 rows).")  # fmt: skip


def test_a_suspiciously_perfect_model_is_not_blessed_without_a_reason() -> None:
    scores = {"model": {"roc_auc": 0.9991}, "logreg": {"roc_auc": 0.9990}}
    plain = evaluation.gates.bless(scores, "model", ["logreg"], 0.6, 0.02)
    assert plain.blessed and plain.warnings == []  # no bound: nothing checked
    refused = evaluation.gates.bless(scores, "model", ["logreg"], 0.6, 0.02, 0.98)
    assert not refused.blessed
    assert refused.reasons[0].startswith("suspiciously perfect: test ROC AUC 0.9991 is above "
                                         "features.leakage_auc 0.98")  # fmt: skip
    assert "evaluate.allow_near_perfect" in refused.reasons[0]
    accepted = evaluation.gates.bless(
        scores, "model", ["logreg"], 0.6, 0.02, 0.98, "a known easy task"
    )
    assert accepted.blessed and accepted.reasons == []
    assert accepted.warnings[0].endswith(
        "accepted (evaluate.allow_near_perfect): a known easy task"
    )
    assert "warnings" in evaluation.gates.blessing_table(accepted).index
    ordinary = {"model": {"roc_auc": 0.75}, "logreg": {"roc_auc": 0.74}}
    assert evaluation.gates.bless(ordinary, "model", ["logreg"], 0.6, 0.02, 0.98).warnings == []


def test_the_champion_gate_refuses_and_shows_a_suspicious_score() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.9 + rng.random(400) * 0.1, 0, 1)
    scores = {"model": {"roc_auc": 1.0}, "logreg": {"roc_auc": 0.99}}
    frame = pd.DataFrame({"s": ["a"] * 400})
    blessing = evaluation.gates.bless(scores, "model", ["logreg"], 0.6, 0.02, 0.98)
    refused = evaluation.gates.champion_gate(y, p, None, frame, ["s"], blessing, 0.005, 100, 20, 0)
    assert refused["decision"] == evaluation.gates.REFUSE
    assert "suspiciously perfect" in refused["reasons"][0]
    blessed = evaluation.gates.bless(scores, "model", ["logreg"], 0.6, 0.02, 0.98, "easy")
    accepted = evaluation.gates.champion_gate(y, p, None, frame, ["s"], blessed, 0.005, 100, 20, 0)
    assert (
        accepted["decision"] == evaluation.gates.PROMOTE
        and "suspiciously" in accepted["warnings"][0]
    )
    assert "warnings" in evaluation.gates.gate_table(accepted).index
