"""Backtests: folds tile the period and never train on or after their origin, the tuners' window
is refused, paired comparisons tell a copy from a better model, feature groups move AUC the
right way, retraining recovers from a concept change, and each training window is fitted once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tabstudy import config
from tabstudy.backtest import candidates as cands
from tabstudy.backtest import folds as fo
from tabstudy.backtest import retraining as rt
from tabstudy.backtest import rolling as ro
from tabstudy.models import baselines
from tabstudy.spec import LABEL, Feature, FeatureSet

SPEC = FeatureSet(
    (
        Feature("c", "categorical", "t", "", ""),
        Feature("x", "numeric", "t", "", ""),
        Feature("z", "numeric", "t", "", ""),
    ),
    time_column="t",
)


def _stream(
    start: str, days: int, per_day: int, seed: int, change: str | None = None
) -> pd.DataFrame:
    """Rows per day; y depends on x before ``change`` and on z from it (a concept change)."""
    rng = np.random.default_rng(seed)
    t = np.repeat(pd.date_range(start, periods=days, freq="D").to_numpy(), per_day)
    n = len(t)
    frame = pd.DataFrame(
        {"t": t, "c": rng.choice(["a", "b"], n), "x": rng.normal(size=n), "z": rng.normal(size=n)}
    )
    after = frame["t"] >= pd.Timestamp(change) if change else np.zeros(n, bool)
    logit = np.where(after, 2.5 * frame["z"], 2.5 * frame["x"]) - 1.0
    frame[LABEL] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    return frame


def _dates(first: str, last: str) -> pd.Series:
    return pd.Series(pd.date_range(first, last, freq="D"))


# --- folds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fold", "origins"),
    [
        ("month", ["2013-11-01", "2013-12-01"]),
        ("half_month", ["2013-11-01", "2013-11-15", "2013-12-01", "2013-12-15"]),
        ("week", [str(date(2013, 11, 1) + timedelta(days=7 * i)) for i in range(9)]),
    ],
)
def test_folds_tile_the_test_period_without_gap_or_overlap(fold: str, origins: list[str]) -> None:
    folds = fo.rolling_folds(_dates("2013-01-01", "2013-12-31"), date(2013, 11, 1), fold,
                             "expanding", 3)  # fmt: skip
    assert [str(f.origin) for f in folds] == origins
    assert all(a.test_end == b.origin for a, b in itertools.pairwise(folds))
    assert folds[-1].test_end == date(2014, 1, 1)  # the last (partial) fold ends with the data
    assert all(f.train_start == date(2013, 1, 1) for f in folds)  # expanding
    assert len({f.name for f in folds}) == len(folds)


def test_sliding_windows_start_train_months_before_the_origin_not_before_the_data() -> None:
    folds = fo.rolling_folds(_dates("2013-02-10", "2013-12-31"), date(2013, 4, 15), "half_month",
                             "sliding", 2)  # fmt: skip
    starts = {str(f.origin): str(f.train_start) for f in folds}
    assert starts["2013-04-15"] == "2013-02-15"
    assert starts["2013-12-15"] == "2013-10-15"
    early = fo.rolling_folds(_dates("2013-02-10", "2013-06-30"), date(2013, 3, 1), "month",
                             "sliding", 2)  # fmt: skip
    assert early[0].train_start == date(2013, 2, 10)  # clipped to the first day


def test_folds_need_training_rows_before_the_first_test_day() -> None:
    with pytest.raises(ValueError, match="first_test 2013-01-01"):
        fo.rolling_folds(_dates("2013-01-01", "2013-03-31"), date(2013, 1, 1), "month",
                         "expanding", 1)  # fmt: skip


def test_check_isolated_refuses_folds_the_tuners_saw_and_accepts_the_default() -> None:
    dates, test_start = _dates("2013-01-01", "2013-12-31"), date(2013, 11, 1)
    tuner_last_day = test_start - timedelta(days=1)
    fo.check_isolated(fo.rolling_folds(dates, test_start, "half_month", "expanding", 3),
                      tuner_last_day)  # fmt: skip
    early = fo.rolling_folds(dates, date(2013, 10, 15), "half_month", "expanding", 3)
    with pytest.raises(ValueError, match=r"fold 2013-10-15 tests 2013-10-15\.\.2013-10-31.*"
                                         r"2013-10-31, the last day the tuners saw"):  # fmt: skip
        fo.check_isolated(early, tuner_last_day)


def test_fold_rows_train_strictly_before_the_origin_and_test_inside_the_fold() -> None:
    frame = _stream("2013-01-01", 120, 3, seed=0)
    folds = fo.rolling_folds(frame["t"], date(2013, 3, 1), "week", "sliding", 1)
    tested = 0
    for f in folds:
        train, test = fo.fold_rows(frame, "t", f)
        assert train["t"].max() < pd.Timestamp(f.origin)
        assert train["t"].min() >= pd.Timestamp(f.train_start)
        assert test["t"].min() >= pd.Timestamp(f.origin)
        assert test["t"].max() < pd.Timestamp(f.test_end)
        tested += len(test)
    assert tested == (frame["t"] >= "2013-03-01").sum()  # every later row tested exactly once


# --- candidates --------------------------------------------------------------------------------


def test_drop_features_removes_the_group_or_returns_the_spec_unchanged() -> None:
    assert cands.drop_features(SPEC, cands.feature_group(SPEC)) is SPEC  # no prev_leg_ features
    with_group = FeatureSet(
        (*SPEC.features, Feature("prev_leg_delay", "numeric", "t", "", "")), time_column="t"
    )
    group = cands.feature_group(with_group)
    assert group == ["prev_leg_delay"]
    reduced = cands.drop_features(with_group, group)
    assert reduced.names() == ["c", "x", "z"] and reduced.time_column == "t"
    with pytest.raises(ValueError, match="no features"):
        cands.drop_features(SPEC, ["c", "x", "z"])


def test_keras_candidate_is_deterministic_and_scores_every_test_row() -> None:
    from tabstudy.models.keras_model import Hyperparameters

    frame = _stream("2013-01-01", 20, 30, seed=1)
    train, test = frame.iloc[:450], frame.iloc[450:]
    cand = cands.keras(Hyperparameters(units=8, layers=1, embedding_dim=2, batch_size=32), 10)
    p1 = cand.fit_predict(train, test, SPEC, seed=3)
    p2 = cand.fit_predict(train, test, SPEC, seed=3)
    assert p1.shape == (len(test),) and ((p1 > 0) & (p1 < 1)).all()
    np.testing.assert_array_equal(p1, p2)
    assert roc_auc_score(test[LABEL], p1) > 0.8  # it learned y ~ x


# --- rolling-origin evaluation -----------------------------------------------------------------


@dataclass
class Recording:
    """Logistic regression on the numeric features that records what it was trained on."""

    name: str = "recording"
    calls: list[tuple[pd.Timestamp, pd.Timestamp, int]] = field(default_factory=list)

    def fit_predict(
        self, train: pd.DataFrame, test: pd.DataFrame, spec: FeatureSet, seed: int
    ) -> np.ndarray:
        self.calls.append((train["t"].min(), train["t"].max(), len(train)))
        model = LogisticRegression(random_state=seed).fit(train[spec.numeric()], train[LABEL])
        return model.predict_proba(test[spec.numeric()])[:, 1]


def test_run_folds_scores_every_model_and_variant_on_unseen_rows() -> None:
    frame = _stream("2013-01-01", 90, 20, seed=2)
    folds = fo.rolling_folds(frame["t"], date(2013, 3, 1), "half_month", "expanding", 1)
    rec = Recording()
    lgbm = cands.lightgbm(baselines.LgbmParams(0.1, 7, 10, 30))
    variants = {"all": SPEC, "without z": cands.drop_features(SPEC, ["z"])}
    preds, fits = ro.run_folds(frame, SPEC, folds, [rec, lgbm], variants, seed=0)
    tested = int((frame["t"] >= "2013-03-01").sum())
    assert len(preds) == tested * 2 * 2
    assert len(fits) == len(folds) * 2 * 2 and (fits["fit_seconds"] > 0).all()
    for (lo, hi, _), f in zip(rec.calls[::2], folds, strict=True):  # variant "all" of each fold
        assert lo == pd.Timestamp("2013-01-01") and hi < pd.Timestamp(f.origin)
    metrics = ro.fold_metrics(preds)
    assert len(metrics) == len(folds) * 4
    assert set(metrics.columns) >= {"fold", "variant", "model", "rows", *ro.METRICS}
    table = ro.summary(metrics)
    assert (table["folds"] == len(folds)).all()
    best = table[table["variant"] == "all"].iloc[0]
    assert best["roc_auc_mean"] == table[table["variant"] == "all"]["roc_auc_mean"].max()
    one = ro.summary(metrics[metrics["fold"] == folds[0].name])
    assert one["roc_auc_sd"].isna().all()  # one fold: no spread


def _scored(folds: int, rows: int, seed: int, **signal: float) -> pd.DataFrame:
    """Long predictions of models whose scores carry ``signal`` times the label plus noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(folds):
        y = (rng.random(rows) < 0.3).astype(int)
        noise = rng.normal(size=rows)
        for model, s in signal.items():
            p = 1 / (1 + np.exp(-(s * y + noise if s >= 0 else rng.normal(size=rows))))
            parts.append(pd.DataFrame({"fold": f"f{k}", "variant": "all", "model": model,
                                       "row": np.arange(rows), LABEL: y, "p": p}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def test_weighted_auc_matches_sklearn_and_resamples_stay_within_folds() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.3).astype(int)
    p = np.round(rng.normal(size=3000) + y, 1)  # many ties
    assert ro.weighted_auc(y, p, np.ones((1, 3000)))[0] == pytest.approx(roc_auc_score(y, p))
    strata = np.repeat(["a", "b", "c"], [1000, 1500, 500])
    w = ro.stratified_weights(strata, 4, rng)
    for s, n in (("a", 1000), ("b", 1500), ("c", 500)):
        assert (w[:, strata == s].sum(axis=1) == n).all()
    drawn = np.repeat(np.arange(3000), w[0].astype(int))
    assert ro.weighted_auc(y, p, w[:1])[0] == pytest.approx(roc_auc_score(y[drawn], p[drawn]))


def test_paired_comparison_ties_a_copy_and_finds_a_better_model() -> None:
    preds = _scored(3, 800, seed=1, keras=1.5, weak=0.5)
    copy = preds[preds["model"] == "keras"].assign(model="copy")
    preds = pd.concat([preds, copy], ignore_index=True)
    table = ro.paired_comparison(preds, "all", "keras", ["copy", "weak"], samples=200, seed=0)
    tie, win = table.set_index("other").loc["copy"], table.set_index("other").loc["weak"]
    assert tie["verdict"] == "tied" and tie["lo"] <= 0 <= tie["hi"] and tie["p_value"] == 1.0
    assert win["verdict"] == "better" and win["lo"] > 0 and win["p_value"] < 0.05
    assert win["p_value"] == pytest.approx(1 / 200)  # floored: no resample crossed zero
    k, w = (preds[preds["model"] == m] for m in ("keras", "weak"))
    pooled = roc_auc_score(k[LABEL], k["p"]) - roc_auc_score(w[LABEL], w["p"])
    assert win["pooled_difference"] == pytest.approx(pooled)
    per_fold = [
        roc_auc_score(k[k["fold"] == f][LABEL], k[k["fold"] == f]["p"])
        - roc_auc_score(w[w["fold"] == f][LABEL], w[w["fold"] == f]["p"])
        for f in ("f0", "f1", "f2")
    ]
    assert win["auc_difference"] == pytest.approx(np.mean(per_fold))  # within folds
    worse = ro.paired_comparison(preds, "all", "weak", ["keras"], samples=100, seed=0)
    assert worse.loc[0, "verdict"] == "worse"


def test_variant_effect_has_the_sign_of_the_feature_group() -> None:
    strong = _scored(2, 800, seed=3, lgbm=1.5, hgb=1.5)
    weak = _scored(2, 800, seed=3, lgbm=0.3, hgb=1.5).assign(variant="without")
    preds = pd.concat([strong, weak], ignore_index=True)
    effect = ro.variant_effect(preds, "all", "without", samples=100, seed=0).set_index("model")
    assert effect.loc["lgbm", "auc_difference"] > 0.1 and effect.loc["lgbm", "verdict"] == "better"
    assert effect.loc["hgb", "auc_difference"] == 0 and effect.loc["hgb", "verdict"] == "tied"
    reverse = ro.variant_effect(preds, "without", "all", ["lgbm"], samples=100, seed=0)
    assert reverse.loc[0, "auc_difference"] < -0.1 and reverse.loc[0, "verdict"] == "worse"


def test_rolling_findings_are_computed_from_the_tables() -> None:
    preds = _scored(3, 400, seed=4, keras=1.5, weak=0.5)
    table = ro.summary(ro.fold_metrics(preds))
    comparison = ro.paired_comparison(preds, "all", "keras", samples=50, seed=0)
    found = ro.rolling_findings(table, comparison, None)
    assert found[0].startswith("Over 3 test folds (all), keras has the best mean ROC AUC, "
                               f"{table.loc[0, 'roc_auc_mean']:.4f}")  # fmt: skip
    assert f"{comparison.loc[0, 'auc_difference']:+.4f}" in found[1] and "better" in found[1]
    assert "does not apply" in found[-1]


# --- retraining policies -----------------------------------------------------------------------


def _months_after_change(table: pd.DataFrame, policy: str) -> pd.Series:
    sub = table[(table["policy"] == policy) & (table["month"] >= "2013-06")]
    return sub.set_index("month")["roc_auc"]


def test_retraining_recovers_from_a_concept_change_and_fits_each_window_once() -> None:
    frame = _stream("2013-01-01", 243, 25, seed=5, change="2013-05-01")  # Jan-Aug
    rec = Recording()

    def bad_month(
        ref: pd.DataFrame, ref_p: np.ndarray, cur: pd.DataFrame, cur_p: np.ndarray
    ) -> bool:
        return roc_auc_score(cur[LABEL], cur_p) < 0.6  # labels of the month just scored

    policies = ["never", "sliding", "expanding", "on_alert"]
    table = rt.backtest(frame, SPEC, "t", rec, policies, initial_months=2, train_months=3,
                        seed=0, alert=bad_month)  # fmt: skip
    assert len(table) == 4 * 6 and table["month"].iloc[0] == "2013-03"
    never = _months_after_change(table, "never")
    assert (never < 0.6).all()
    for policy in ("sliding", "expanding"):
        assert (_months_after_change(table, policy) > never + 0.1).all()
    on_alert = table[table["policy"] == "on_alert"]
    retrained = set(on_alert.loc[on_alert["retrained"], "month"])
    assert "2013-06" in retrained and not retrained & {"2013-04", "2013-05"}
    windows = set(zip(table["train_start"], table["train_end"], strict=True))
    assert len(rec.calls) == len(windows)  # each window fitted once, whoever asked first
    # sliding (3 months) and expanding share April's window; the initial window is shared by all
    assert len(windows) == 1 + 5 + 5 - 1
    first = table[table["month"] == "2013-03"]
    assert first["retrained"].all() and first["fit_seconds"].nunique() == 1  # charged to each
    summary = rt.policy_summary(table).set_index("policy")
    assert summary.loc["never", "trainings"] == 1 and summary.loc["sliding", "trainings"] == 6
    assert summary.loc["never", "auc_gain_vs_never"] == 0
    assert summary.loc["sliding", "auc_gain_vs_never"] > 0.05
    found = rt.policy_findings(summary.reset_index())
    best = summary["roc_auc_mean"].idxmax()
    assert f"policy {best} has the best mean monthly ROC AUC" in found[0]
    assert f"{summary.loc[best, 'auc_gain_vs_never']:+.4f}" in found[1]


def test_backtest_refuses_on_alert_without_an_alert() -> None:
    frame = _stream("2013-01-01", 90, 5, seed=0)
    with pytest.raises(ValueError, match="on_alert needs an alert"):
        rt.backtest(frame, SPEC, "t", Recording(), ["on_alert"], 1, 1, 0)


def test_score_shift_alert_fires_on_shifted_scores_only() -> None:
    rng = np.random.default_rng(0)
    ref, same, shifted = rng.random(2000), rng.random(2000), rng.random(2000) ** 4
    alert = rt.score_shift_alert(max_psi=0.2)
    assert not alert(pd.DataFrame(), ref, pd.DataFrame(), same)
    assert alert(pd.DataFrame(), ref, pd.DataFrame(), shifted)


def test_policy_windows_and_retrain_split_dates() -> None:
    first, initial_end, nov = date(2013, 1, 1), date(2013, 3, 1), date(2013, 11, 1)
    assert rt.policy_window("never", nov, first, 3, initial_end) == (first, initial_end)
    assert rt.policy_window("sliding", nov, first, 3, initial_end) == (date(2013, 8, 1), nov)
    assert rt.policy_window("expanding", nov, first, 3, initial_end) == (first, nov)
    split = rt.retrain_split("sliding", nov, first, 3)
    assert split == {"train_start": "2013-08-01", "valid_start": "2013-10-01",
                     "test_start": "2013-11-01"}  # fmt: skip
    assert config.SplitConfig(**split).train_start == date(2013, 8, 1)  # params.yaml accepts it
    expanding = rt.retrain_split("expanding", nov, first, 3, valid_months=2)
    assert expanding["train_start"] == "2013-01-01" and expanding["valid_start"] == "2013-09-01"
    with pytest.raises(ValueError, match="never"):
        rt.retrain_split("never", nov, first, 3)
    with pytest.raises(ValueError, match="no training rows"):
        rt.retrain_split("sliding", nov, first, 1)


def test_the_stage_says_why_without_a_time_column(tmp_path) -> None:
    import dataclasses

    from tabstudy.backtest import stage
    from tabstudy.config import BacktestConfig

    spec = dataclasses.replace(SPEC, time_column=None)
    cfg = BacktestConfig(
        fold="month", first_test=None, train_window="sliding", train_months=3, keras_epochs=1,
        keras_min_steps=0, bootstrap_samples=10, policies=["never"], policy_model="lightgbm",
        initial_months=1,
    )  # fmt: skip
    outcome = stage.run(pd.DataFrame({"x": [1.0]}), spec, cfg, [], None, 0, 0.1)
    assert outcome.metrics_json() == {"applicable": False}
    assert "not applicable, the rows have no time column" in outcome.findings[0]
    assert list(stage.figures(outcome)) == ["not_applicable"]
    outcome.write(tmp_path)
    assert (tmp_path / "fold_auc.csv").is_file() and (tmp_path / "rolling_summary.csv").is_file()
