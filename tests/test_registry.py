"""The champion gate, the canary split, the registry's helpers and the rollout comparison (fast;
the end-to-end registry and rollout flow is in test_rollout.py)."""

from __future__ import annotations

import datetime as dt
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from tabstudy import evaluation, monitoring, registry
from tabstudy.serving import rollout

BLESSED = evaluation.gates.Blessing(True, 0.7, "logreg", 0.69, 0.6, 0.02, [])


@pytest.fixture
def rows() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """8,000 rows in two carriers; the champion separates both moderately well."""
    rng = np.random.default_rng(3)
    n = 8000
    carrier = np.where(np.arange(n) < n // 2, "AA", "UA")
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, p, pd.DataFrame({"carrier": carrier})


def _gate(y, p_new, p_old, frame, blessing=BLESSED, max_drop=0.005):
    return evaluation.gates.champion_gate(y, p_new, p_old, frame, ["carrier"], blessing, max_drop,
                                    1000, 100, 0)  # fmt: skip


def test_the_first_blessed_model_is_promoted_and_an_unblessed_one_refused(rows) -> None:
    y, p, frame = rows
    assert _gate(y, p, None, frame)["decision"] == evaluation.gates.PROMOTE
    unblessed = evaluation.gates.Blessing(
        False, 0.5, "logreg", 0.69, 0.6, 0.02, ["ROC AUC too low"]
    )
    out = _gate(y, p, None, frame, blessing=unblessed)
    assert out["decision"] == evaluation.gates.REFUSE and out["reasons"] == [
        "not blessed: ROC AUC too low"
    ]


def test_an_equal_challenger_passes_and_a_worse_one_is_refused_on_its_interval(rows) -> None:
    y, p, frame = rows
    same = _gate(y, p, p, frame)
    assert same["decision"] == evaluation.gates.PROMOTE and same["overall"]["diff"] == 0.0
    noise = np.random.default_rng(9).random(len(y))
    worse = _gate(y, 0.6 * p + 0.4 * noise, p, frame)
    assert worse["decision"] == evaluation.gates.REFUSE
    assert worse["overall"]["hi"] < -0.005
    assert "against the champion: the interval reaches below -0.005" in worse["reasons"][0]


def test_a_slice_regression_blocks_even_when_the_average_holds(rows) -> None:
    """The challenger is better on AA and worse on UA by more than the allowed drop: the
    average moves little, but the UA slice blocks and is named."""
    y, p, frame = rows
    ua = (frame["carrier"] == "UA").to_numpy()
    rng = np.random.default_rng(4)
    better = np.clip(p + 0.15 * (y - 0.5), 0, 1)
    blurred = np.clip(0.5 * p + 0.5 * rng.random(len(y)), 0, 1)
    challenger = np.where(ua, blurred, better)
    out = _gate(y, challenger, p, frame, max_drop=0.02)
    blocking = [s for s in out["slices"] if s["blocks"]]
    assert [(s["column"], s["value"]) for s in blocking] == [("carrier", "UA")]
    assert any("slice carrier=UA (4,000 rows) regresses" in r for r in out["reasons"])
    aa = next(s for s in out["slices"] if s["value"] == "AA")
    assert aa["diff"] > 0 and not aa["blocks"] and np.isnan(aa["lo"])  # no interval needed


def test_small_slices_are_not_judged(rows) -> None:
    y, p, frame = rows
    out = evaluation.gates.champion_gate(y, p, p, frame, ["carrier"], BLESSED, 0.005, 5000, 50, 0)
    assert out["slices"] == []


def test_the_canary_share_holds_within_binomial_bounds_and_a_key_keeps_its_model() -> None:
    n, share = 10_000, 0.1
    keys = [f"UA|{i}|EWR|2013-12-{1 + i % 28:02d}T08:00:00" for i in range(n)]
    served = rollout.canary_mask(keys, share)
    lo, hi = binom.ppf([0.0005, 0.9995], n, share)  # a 99.9% interval
    assert lo <= served.sum() <= hi, served.sum()
    assert (rollout.canary_mask(keys, share) == served).all()  # deterministic
    assert not rollout.canary_mask(keys, 0.0).any() and rollout.canary_mask(keys, 1.0).all()
    assert not rollout.served_by("shadow", keys, share).any()


def test_request_keys_are_the_same_for_a_row_and_a_batch_column() -> None:
    when = dt.datetime(2013, 12, 23, 18, 4)
    one = rollout.request_keys({"carrier": ["UA"], "sched_dep": [when]}, ["carrier", "sched_dep"])
    text = rollout.request_keys({"carrier": ["UA"], "sched_dep": ["2013-12-23T18:04:00"]},
                                ["carrier", "sched_dep"])  # fmt: skip
    assert one == text == ["UA|2013-12-23T18:04:00"]


def test_a_rollout_plan_refuses_nonsense() -> None:
    champion = rollout.ModelChoice(registry.paths.bundle_dir())
    with pytest.raises(ValueError, match="needs a challenger"):
        rollout.Plan(champion, "canary")
    with pytest.raises(ValueError, match="rollout mode"):
        rollout.Plan(champion, "blue-green")


def test_registry_names_and_versions() -> None:
    assert registry.artifact_name("nycflights13") == "nycflights13"
    assert registry.artifact_name("Breast_Cancer.v2") == "breast-cancer-v2"
    lock = "stages:\n  train:\n    outs:\n    - path: models/bundle\n      md5: abc.dir\n"
    assert registry.lock_md5(lock) == "abc.dir"
    assert registry.lock_md5("stages: {}\n") is None and registry.lock_md5(None) is None


def test_a_project_without_commits_has_no_versions(tmp_path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert registry.versions("x", tmp_path) == [] and registry.champion("x", tmp_path) is None
    assert registry.next_version("x", tmp_path) == "v0.0.1"
    with pytest.raises(registry.RegistryError, match="needs a git repository with a commit"):
        registry.register("x", tmp_path, {}, root=tmp_path)


def _record(i: int, served: list[str], p_a: list[float], p_b: list[float]) -> dict:
    return {"request_id": f"r{i}", "time": float(i), "rollout": "canary",
            "variants": {"champion": {"model_version": "a", "registry_version": "v0.0.1",
                                      "threshold": 0.5},
                         "challenger": {"model_version": "b", "registry_version": "v0.0.2",
                                        "threshold": 0.5}},
            "served": served, "champion_probability": p_a, "challenger_probability": p_b,
            "keys": [f"k{i}-{j}" for j in range(len(served))], "key_fields": ["k"]}  # fmt: skip


def test_the_rollout_comparison_counts_agreement_and_scores_each_variant() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p_a = np.clip(0.4 * y + 0.6 * rng.random(400), 0, 1)
    p_b = np.clip(0.1 * y + 0.9 * rng.random(400), 0, 1)  # a weaker challenger
    served = ["challenger" if i % 4 == 0 else "champion" for i in range(400)]
    records = [{"request_id": "plain", "time": 0.0, "rows": 1}]  # outside a rollout: skipped
    records += [_record(i, served[i * 100:(i + 1) * 100], p_a[i * 100:(i + 1) * 100].tolist(),
                        p_b[i * 100:(i + 1) * 100].tolist()) for i in range(4)]  # fmt: skip
    rows = monitoring.rollout.rollout_rows(records)
    assert len(rows) == 400 and rows["challenger"].unique().tolist() == ["v0.0.2"]
    labels = pd.Series(y, index=rows["key"].to_numpy())
    out = monitoring.rollout.rollout_comparison(rows) | evaluation.metrics.variant_auc(
        rows, labels, 50, 0
    )
    assert out["served_share"] == {"challenger": 0.25, "champion": 0.75}
    agree = ((p_a >= 0.5) == (p_b >= 0.5)).mean()
    assert out["agreement"] == pytest.approx(agree)
    a, b = out["auc_all_rows"]["champion"], out["auc_all_rows"]["challenger"]
    assert a["roc_auc"] > b["roc_auc"] and a["lo"] < a["roc_auc"] < a["hi"]
    assert out["auc_served_rows"]["challenger"]["rows"] == 100
    found = monitoring.rollout.rollout_findings(out)
    assert "the challenger v0.0.2 answered 25.0%" in found[0]
    assert "On the 400 labelled rows" in found[-1]
    with pytest.raises(ValueError, match="no request in the log was served in a rollout"):
        monitoring.rollout.rollout_comparison(monitoring.rollout.rollout_rows(records[:1]))


def test_the_comparison_keeps_the_latest_pair_only() -> None:
    first = _record(0, ["champion"], [0.2], [0.3])
    second = _record(1, ["champion"], [0.2], [0.3])
    second["variants"]["challenger"]["registry_version"] = "v0.0.3"
    rows, left_out = monitoring.rollout.latest_pair(
        monitoring.rollout.rollout_rows([first, second])
    )
    assert rows["challenger"].tolist() == ["v0.0.3"] and left_out == 1
