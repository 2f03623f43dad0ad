"""Monitoring over time on synthetic streams whose truth is known: drift that starts in a given
window, a performance drop that starts in a given window, a calibrated stream whose realised
ROC AUC the label-free estimate must cover; and the small pieces (windows, p-value corrections,
the chi-square table, one-class windows)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from sklearn.metrics import brier_score_loss, roc_auc_score

from tabstudy.monitoring import alerts as al
from tabstudy.monitoring import performance as pf
from tabstudy.monitoring import plots, rules
from tabstudy.monitoring import windows as wd

START = pd.Timestamp("2013-11-04")
WINDOWS = 10
SHIFT_FROM = 6  # the first changed window, counted from 1
FAMILIES = {"x1": "numbers", "x2": "numbers", "c": "categories"}
RULES = SimpleNamespace(alpha=0.01, psi_warn=0.1, psi_alert=0.25, prediction_psi_alert=0.1)
"""The drift tests' levels (the ``monitor`` section's, as the report passes them)."""
PARAMS_RULES = {"feature_drift": {"max_drifted_share": 0.2},
                "unseen_categories": {"max_unseen_share": 0.05}}  # fmt: skip
LIMITS = rules.thresholds(PARAMS_RULES)


def _evidence(summary, prediction, perf, auc, min_roc_auc, drift=None) -> rules.Evidence:
    return rules.Evidence(summary, prediction, perf, auc, min_roc_auc, 7, RULES.alpha,
                          RULES.psi_alert, RULES.prediction_psi_alert, drift=drift)  # fmt: skip


def _alerts(summary, prediction, perf, auc, min_roc_auc) -> list[dict]:
    return rules.alerts(_evidence(summary, prediction, perf, auc, min_roc_auc), LIMITS)


def _findings(summary, prediction, perf, fired, auc, min_roc_auc, drift=None) -> list[str]:
    evidence = _evidence(summary, prediction, perf, auc, min_roc_auc, drift)
    return rules.findings(evidence, fired, LIMITS)


SHARES = [0.4, 0.3, 0.2, 0.1]
SHIFTED_SHARES = [0.1, 0.2, 0.3, 0.4]


def window_start(i: int) -> str:
    """The label of window ``i`` (counted from 1) of a weekly stream from :data:`START`."""
    return (START + pd.Timedelta(days=7 * (i - 1))).strftime("%Y-%m-%d")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def features(rng: np.random.Generator, n: int, shifted: bool) -> pd.DataFrame:
    """Two N(0, 1) numeric features and a four-category one; ``shifted`` moves x1 by +0.8 sd
    and reverses the category shares."""
    return pd.DataFrame({
        "x1": rng.normal(0.8 if shifted else 0.0, 1.0, n),
        "x2": rng.normal(0.0, 1.0, n),
        "c": rng.choice(list("abcd"), n, p=SHIFTED_SHARES if shifted else SHARES),
    })  # fmt: skip


def stream(seed: int, rows: int, shift: bool, make: object = features) -> pd.DataFrame:
    """:data:`WINDOWS` weekly windows of ``rows`` rows from :data:`START` (times spread over
    each week), from :data:`SHIFT_FROM` on shifted when ``shift``."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(1, WINDOWS + 1):
        part = make(rng, rows, shift and i >= SHIFT_FROM)
        offset = pd.to_timedelta(rng.uniform(0, 7 * 86400 - 1, rows), unit="s")
        part["time"] = pd.Timestamp(window_start(i)) + offset
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["window"] = wd.assign_windows(frame["time"], START, "week")
    return frame


def no_performance() -> pd.DataFrame:
    columns = ["window", "rows", *pf.ESTIMATED_COLUMNS, "labelled", *pf.REALISED_COLUMNS]
    return pd.DataFrame(columns=columns)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return features(np.random.default_rng(1), 20_000, shifted=False)


@pytest.fixture(scope="module")
def drifting(reference: pd.DataFrame) -> dict[str, object]:
    """The whole monitoring chain over a stream whose x1 and category shares change from
    window :data:`SHIFT_FROM` on; the score is sigmoid(x1 + x2), the labels follow it."""
    frame = stream(2, 3_000, shift=True)
    frame["score"] = sigmoid(frame["x1"] + frame["x2"])
    frame["label"] = (np.random.default_rng(3).random(len(frame)) < frame["score"]).astype(int)
    ref_score = sigmoid(reference["x1"] + reference["x2"]).to_numpy()
    ref_label = (np.random.default_rng(4).random(len(reference)) < ref_score).astype(int)
    auc = pf.realised(ref_label, ref_score, 200, 0)
    calibrator = pf.Calibrator.fit(ref_score, ref_label)
    drift = wd.drift_over_time(
        reference, frame, "window", ["c"], ["x1", "x2"], 10, RULES.alpha, RULES.psi_warn,
        RULES.psi_alert, FAMILIES,
    )  # fmt: skip
    summary = wd.window_summary(drift)
    prediction = wd.prediction_drift(
        ref_score, frame, "window", "score", RULES.alpha, RULES.prediction_psi_alert
    )
    until = pd.Timestamp(window_start(WINDOWS))  # the last window's labels have not arrived
    perf = pf.performance_over_time(
        frame, "window", "score", "label", until, "time", calibrator, 100, 100, 0
    )
    fired = _alerts(summary, prediction, perf, auc, min_roc_auc=0.6)
    found = _findings(summary, prediction, perf, fired, auc, 0.6)
    return {"drift": drift, "summary": summary, "prediction": prediction, "perf": perf,
            "alerts": fired, "findings": found, "reference": auc}  # fmt: skip


# --- windows ------------------------------------------------------------------------------------


def test_weekly_windows_start_at_the_start_date_and_rows_before_get_na() -> None:
    times = pd.Series(pd.to_datetime([
        "2013-11-03 23:59", "2013-11-04 00:00", "2013-11-10 23:59", "2013-11-11 00:00",
        "2013-12-01 12:00",
    ]))  # fmt: skip
    got = wd.assign_windows(times, START, "week")
    assert got.isna().tolist() == [True, False, False, False, False]
    assert got.iloc[1:].tolist() == ["2013-11-04", "2013-11-04", "2013-11-11", "2013-11-25"]


def test_monthly_windows_are_calendar_months_the_first_from_the_start() -> None:
    times = pd.Series(pd.to_datetime([
        "2013-11-14 00:00", "2013-11-15 00:00", "2013-11-30 23:00", "2013-12-01 00:00",
        "2014-01-31 00:00", None,
    ]))  # fmt: skip
    got = wd.assign_windows(times, pd.Timestamp("2013-11-15"), "month")
    assert got.isna().tolist() == [True, False, False, False, False, True]
    assert got.dropna().tolist() == ["2013-11-15", "2013-11-15", "2013-12-01", "2014-01-01"]


def test_an_unknown_window_length_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'day'"):
        wd.assign_windows(pd.Series(pd.to_datetime(["2013-11-04"])), START, "day")


# --- p-value corrections ------------------------------------------------------------------------


def test_benjamini_hochberg_matches_a_hand_computed_example() -> None:
    # m = 4 tests (the NaN is not one): sorted 0.005, 0.01, 0.03, 0.04 scaled by m / rank to
    # 0.02, 0.02, 0.04, 0.04, already non-decreasing.
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    got = wd.adjust_pvalues(p)
    np.testing.assert_allclose(got, [0.02, 0.04, 0.04, 0.02, np.nan])
    # step-up: 0.04 * 2 / 1 = 0.08 is lowered to the larger p-value's 0.045 * 2 / 2
    np.testing.assert_allclose(wd.adjust_pvalues(np.array([0.04, 0.045])), [0.045, 0.045])
    np.testing.assert_allclose(wd.adjust_pvalues(np.array([0.9, 0.8])), [0.9, 0.9])


def test_bonferroni_multiplies_by_the_tests_counted_and_caps_at_one() -> None:
    got = wd.adjust_pvalues(np.array([0.01, 0.04, 0.3, np.nan]), "bonferroni")
    np.testing.assert_allclose(got, [0.03, 0.12, 0.9, np.nan])
    np.testing.assert_allclose(wd.adjust_pvalues(np.array([0.6, 0.7]), "bonferroni"), [1, 1])


def test_corrections_keep_nan_and_refuse_unknown_methods() -> None:
    assert np.isnan(wd.adjust_pvalues(np.array([np.nan, np.nan]))).all()
    assert wd.adjust_pvalues(np.array([])).shape == (0,)
    with pytest.raises(ValueError, match="'holm'"):
        wd.adjust_pvalues(np.array([0.1]), "holm")


# --- feature tests ------------------------------------------------------------------------------


def test_chi_square_merges_rare_categories_and_counts_missing_as_one() -> None:
    ref = pd.DataFrame({"c": ["a"] * 100 + ["b"] * 100 + ["c"] * 2 + ["d"]})
    cur = pd.DataFrame({"c": ["a"] * 100 + ["b"] * 100 + ["c"] + [None] * 10})
    got = wd.feature_tests(ref, cur, ["c"], [], bins=10).iloc[0]
    # c (pooled 3) and d (pooled 1) become one __rare__ column; missing (pooled 10) stays
    expected = chi2_contingency([[100, 100, 0, 3], [100, 100, 10, 1]], correction=False)
    assert (got["kind"], got["test"]) == ("categorical", "chi2")
    assert got["statistic"] == pytest.approx(expected.statistic)
    assert got["pvalue"] == pytest.approx(expected.pvalue)
    assert got["psi"] > 0


def test_numeric_tests_need_two_values_a_side_and_use_the_reference_stats_bins() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=1_000)})
    cur = pd.DataFrame({"x": [0.5] + [np.nan] * 9})
    got = wd.feature_tests(ref, cur, [], ["x"], bins=10).iloc[0]
    assert (got["kind"], got["test"]) == ("numeric", "ks")
    assert np.isnan(got["pvalue"]) and np.isnan(got["statistic"]) and got["psi"] > 1
    same = pd.DataFrame({"x": rng.normal(size=1_000)})
    stats = {"numeric": {"x": {"edges": [0.0], "shares": [0.5, 0.5, 0.0]}}}
    with_stats = wd.feature_tests(ref, same, [], ["x"], bins=10, reference_stats=stats)
    halves = np.array([(same["x"] < 0).mean(), (same["x"] >= 0).mean()])
    psi = float(np.sum((halves - 0.5) * np.log(halves / 0.5)))
    assert with_stats["psi"].iloc[0] == pytest.approx(psi)


# --- drift over time ----------------------------------------------------------------------------


def test_feature_drift_fires_in_the_first_shifted_window_and_never_before(
    drifting: dict[str, object],
) -> None:
    fired = drifting["alerts"]
    assert al.first_window(fired, "feature_drift") == window_start(SHIFT_FROM)
    flagged = [a["window"] for a in fired if a["rule"] == "feature_drift"]
    assert flagged == [window_start(i) for i in range(SHIFT_FROM, WINDOWS + 1)]
    drift = drifting["drift"].set_index(["window", "feature"])
    shifted = window_start(SHIFT_FROM)
    assert drift.loc[(shifted, "x1"), "status"] == "alert"
    assert drift.loc[(shifted, "c"), "status"] == "alert"
    assert drift.loc[(shifted, "x2"), "status"] == "ok"
    assert drifting["drift"]["window"].tolist() == sorted(drifting["drift"]["window"])
    summary = drifting["summary"].set_index("window")
    assert summary.loc[shifted, "drifted_share"] == pytest.approx(2 / 3)
    assert {"psi_numbers", "psi_categories"} <= set(summary.columns)
    assert summary.loc[shifted, "max_psi_feature"] in {"x1", "c"}
    assert (summary["rows"] == 3_000).all()


def test_prediction_drift_follows_the_score_shift(drifting: dict[str, object]) -> None:
    prediction = drifting["prediction"]
    assert list(prediction.columns) == wd.PREDICTION_COLUMNS
    assert prediction["drifted"].tolist() == [i >= SHIFT_FROM for i in range(1, WINDOWS + 1)]
    assert al.first_window(drifting["alerts"], "prediction_drift") == window_start(SHIFT_FROM)


def test_a_stream_from_the_reference_fires_no_drift_alert(reference: pd.DataFrame) -> None:
    frame = stream(5, 3_000, shift=False)
    drift = wd.drift_over_time(
        reference, frame, "window", ["c"], ["x1", "x2"], 10, RULES.alpha, RULES.psi_warn,
        RULES.psi_alert, FAMILIES, method="bonferroni",
    )  # fmt: skip
    assert len(drift) == 3 * WINDOWS
    assert (drift["status"] == "ok").all()
    summary = wd.window_summary(drift)
    frame["score"] = sigmoid(frame["x1"] + frame["x2"])
    ref_score = sigmoid(reference["x1"] + reference["x2"]).to_numpy()
    prediction = wd.prediction_drift(
        ref_score, frame, "window", "score", RULES.alpha, RULES.prediction_psi_alert
    )
    ref_auc = {"roc_auc": 0.8, "auc_lo": 0.79, "auc_hi": 0.81}
    assert _alerts(summary, prediction, no_performance(), ref_auc, 0.6) == []


# --- performance ----------------------------------------------------------------------------------


def concept(rng: np.random.Generator, n: int, weak: bool) -> pd.DataFrame:
    """Scores with the same distribution throughout; labels ~ Bernoulli(sigmoid(a * logit(s)))
    with a = 1 (calibrated, a strong signal) or, when ``weak``, a = 0.1 (mostly noise)."""
    z = rng.normal(-1.0, 1.5, n)
    a = 0.1 if weak else 1.0
    return pd.DataFrame({"score": sigmoid(z), "label": (rng.random(n) < sigmoid(a * z))})


def test_realised_auc_fires_when_the_signal_weakens_and_the_estimate_cannot_see_it() -> None:
    ref = concept(np.random.default_rng(10), 10_000, weak=False)
    auc = pf.realised(ref["label"].to_numpy(), ref["score"].to_numpy(), 200, 0)
    calibrator = pf.Calibrator.fit(ref["score"].to_numpy(), ref["label"].to_numpy())
    frame = stream(11, 3_000, shift=True, make=concept)
    until = pd.Timestamp(window_start(WINDOWS - 1))  # the last two windows wait for labels
    perf = pf.performance_over_time(
        frame, "window", "score", "label", until, "time", calibrator, 200, 200, 0
    )
    assert perf["labelled"].tolist() == [i < WINDOWS - 1 for i in range(1, WINDOWS + 1)]
    assert perf.loc[~perf["labelled"], "roc_auc"].isna().all()
    no_drift = wd.window_summary(pd.DataFrame(columns=wd.DRIFT_COLUMNS))
    no_prediction = pd.DataFrame(columns=wd.PREDICTION_COLUMNS)
    fired = _alerts(no_drift, no_prediction, perf, auc, min_roc_auc=0.7)
    realised_windows = [a["window"] for a in fired if a["rule"] == "realised_auc"]
    assert realised_windows == [window_start(i) for i in range(SHIFT_FROM, WINDOWS - 1)]
    assert al.first_window(fired, "blessing") == window_start(SHIFT_FROM)
    # The known limitation of confidence-based estimation (CBPE): it sees the scores only. A
    # pure concept shift leaves the score distribution unchanged, so the estimate stays at the
    # reference level and the estimated_auc rule does not fire; only realised labels show it.
    assert al.first_window(fired, "estimated_auc") is None
    assert (perf["est_auc"] > auc["auc_lo"] - 0.02).all()
    message = next(a for a in fired if a["rule"] == "realised_auc")["message"]
    assert window_start(SHIFT_FROM) in message
    found = _findings(no_drift, no_prediction, perf, fired, auc, 0.7)
    assert any("more misses than sampling error explains" in f for f in found), found


def test_estimated_auc_covers_the_realised_one_on_a_calibrated_stream() -> None:
    def calibrated(rng: np.random.Generator, n: int, _: bool) -> pd.DataFrame:
        s = rng.beta(2, 5, n)
        return pd.DataFrame({"score": s, "label": (rng.random(n) < s).astype(int)})

    rng = np.random.default_rng(20)
    ref = calibrated(rng, 20_000, False)
    calibrator = pf.Calibrator.fit(ref["score"].to_numpy(), ref["label"].to_numpy())
    c = calibrator(ref["score"].to_numpy())
    assert np.mean(np.abs(c - ref["score"].to_numpy())) < 0.03
    frame = stream(21, 2_000, shift=False, make=calibrated)
    perf = pf.performance_over_time(
        frame, "window", "score", "label", None, "time", calibrator, 50, 200, 0
    )
    assert perf["labelled"].all() and len(perf) == WINDOWS
    inside = (perf["est_auc_lo"] <= perf["roc_auc"]) & (perf["roc_auc"] <= perf["est_auc_hi"])
    assert inside.sum() >= WINDOWS - 1
    assert (perf["est_brier_lo"] < perf["est_brier"]).all()
    assert (perf["est_brier"] < perf["est_brier_hi"]).all()
    assert perf["expected_rate"].to_numpy() == pytest.approx(perf["observed_rate"], abs=0.03)


def test_realised_matches_sklearn_is_fast_and_handles_one_class() -> None:
    rng = np.random.default_rng(30)
    p = np.round(rng.random(10_000), 2)  # ties
    y = (rng.random(10_000) < p).astype(int)
    began = time.perf_counter()
    got = pf.realised(y, p, 200, 0)
    assert time.perf_counter() - began < 1.0
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert got["brier"] == pytest.approx(brier_score_loss(y, p))
    assert got["auc_lo"] < got["roc_auc"] < got["auc_hi"]
    assert got["brier_lo"] < got["brier"] < got["brier_hi"]
    assert got["calibration_gap"] == pytest.approx(p.mean() - y.mean())
    assert 0 <= got["ece"] < 0.05
    began = time.perf_counter()
    est = pf.estimated(p, p, 200, 0)
    assert time.perf_counter() - began < 1.0
    assert est["est_auc_lo"] < est["est_auc"] < est["est_auc_hi"]
    one = pf.realised(np.zeros(50, dtype=int), rng.random(50), 50, 0)
    assert one["roc_auc"] is None and one["auc_lo"] is None and one["auc_hi"] is None
    assert one["positives"] == 0 and one["brier_lo"] is not None


def test_the_calibrator_round_trips_through_json() -> None:
    rng = np.random.default_rng(40)
    s = rng.random(2_000)
    cal = pf.Calibrator.fit(s, rng.random(2_000) < s)
    back = pf.Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    probe = np.linspace(-0.5, 1.5, 101)
    np.testing.assert_array_equal(back(probe), cal(probe))
    assert cal(np.array([-1.0, 2.0])).tolist() == [cal.y[0], cal.y[-1]]  # clipped at the ends


# --- words and pictures -------------------------------------------------------------------------


def test_findings_name_the_first_drift_window_from_the_numbers(
    drifting: dict[str, object],
) -> None:
    found = drifting["findings"]
    text = " ".join(found)
    assert f"Monitored {WINDOWS} windows" in found[0]
    assert f"first flagged in the window starting {window_start(SHIFT_FROM)}" in text
    assert "Prediction drift" in text and window_start(SHIFT_FROM) in text
    assert "1 window(s) had no realised performance yet" in text
    assert "blessing" in text
    assert "The most drifted feature of a window was c in 5 window(s)" in text
    with_drift = _findings(
        drifting["summary"], drifting["prediction"], drifting["perf"], drifting["alerts"],
        drifting["reference"], 0.6, drift=drifting["drift"],
    )  # fmt: skip
    shifted = WINDOWS - SHIFT_FROM + 1
    assert f"x1 (alerting in {shifted} of {WINDOWS} windows" in " ".join(with_drift)
    assert f"c (alerting in {shifted} of {WINDOWS} windows" in " ".join(with_drift)


def test_plots_draw_the_families_thresholds_and_alerts(drifting: dict[str, object]) -> None:
    import matplotlib.pyplot as plt

    fig = plots.plot_drift_over_time(drifting["summary"], RULES, 0.2)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"numbers", "categories", "psi_warn 0.1", "psi_alert 0.25"} <= set(labels)
    assert "feature_drift alert" in labels
    perf_fig = plots.plot_performance_over_time(
        drifting["perf"], drifting["reference"], drifting["alerts"]
    )
    assert "estimated (CBPE)" in perf_fig.axes[0].get_legend_handles_labels()[1]
    pred_fig = plots.plot_prediction_drift(drifting["prediction"], RULES)
    assert len(pred_fig.axes) == 2
    for f in (fig, perf_fig, pred_fig):
        plt.close(f)


def test_rows_without_time_are_one_named_window_with_no_date(tmp_path) -> None:
    """A table without a time column: rows without a time column are one window called "test
    split", the findings say that monitoring over time is not applicable, and no epoch date
    appears anywhere: not in the report, not in the reference written for serving."""
    from tabstudy.config import MonitorConfig
    from tabstudy.monitoring import report

    rng = np.random.default_rng(3)
    n = 600
    train = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    score = rng.random(n)
    rows = train.assign(**{report.SCORE: score,
                           report.LABEL_COLUMN: (rng.random(n) < score).astype(float)})  # fmt: skip
    valid_y = (rng.random(n) < score).astype(int)
    reference = report.build_reference(valid_y, score, None, "abc", 20, 0)
    reference.write(tmp_path)
    assert "1970" not in (tmp_path / "reference.json").read_text()
    assert report.Reference.read(tmp_path).start is None
    cfg = MonitorConfig(window="week", alpha=0.01, correction="fdr_bh", psi_warn=0.1,
                        psi_alert=0.25, prediction_psi_alert=0.1, rules=PARAMS_RULES,
                        label_delay_days=0.0, bootstrap_samples=20,
                        estimation_draws=20)  # fmt: skip
    result = report.monitor(train, rows, ["c"], ["x"], {"x": "t", "c": "t"}, reference, cfg, 0.5, 0)
    assert result.findings[0].startswith("No time axis:") and "not applicable" in result.findings[0]
    text = " ".join(result.findings) + repr(result.summary()) + repr(result.alerts)
    for table in (result.windows, result.drift, result.prediction, result.performance):
        text += table.to_csv()
    assert "1970" not in text and "1969" not in text
    assert set(result.windows["window"]) == {report.UNTIMED_WINDOW}
    # a label delay means nothing without time: every label is known, the AUC is realised
    delayed = report.monitor(train, rows, ["c"], ["x"], {"x": "t", "c": "t"}, reference,
                             cfg.model_copy(update={"label_delay_days": 7.0}), 0.5, 0)  # fmt: skip
    assert delayed.findings == result.findings
    assert delayed.performance.to_csv() == result.performance.to_csv()
    # the served model's requests carry their arrival time: windows from the first request
    served = rows.assign(**{report.TIME: pd.Timestamp("2026-03-02") + pd.to_timedelta(
        np.arange(n) % 14, unit="D")})  # fmt: skip
    timed = report.monitor(
        train, served, ["c"], ["x"], {"x": "t", "c": "t"}, reference, cfg, 0.5, 0
    )
    assert timed.facts["first_window"].startswith("2026-03-02") and len(timed.windows) == 2
    figs = report.figures(result, reference, cfg)
    assert list(figs) == ["drift_over_time"]
    axis = figs["drift_over_time"].axes[0]
    assert "no time axis" in axis.get_title() and axis.get_xlabel() == "largest PSI in the family"
