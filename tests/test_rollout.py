"""The registry and rollout end to end, on a copy of the smoke run: the first model is promoted,
a changed training param run as a DVC experiment meets the champion gate, both are served in a
canary (then a shadow), the comparison report reads the request log with outcomes, and a
promotion and a rollback take effect through one reload call while requests keep flowing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from tabstudy.serving import requestlog

from .conftest import committed_copy, run_in, set_params, stages_ran
from .test_online_store import requests as flight_requests
from .test_serving import _jsonable, _start, _stop

pytestmark = pytest.mark.slow
REGISTRY = (sys.executable, "-m", "tabstudy", "registry")


@pytest.fixture(scope="module")
def repo(smoke_run, tmp_path_factory) -> Path:
    return committed_copy(smoke_run[0], tmp_path_factory.mktemp("rollout") / "repo")


def _flights(work: Path) -> tuple[dict[str, list], pd.DataFrame]:
    """The labelled test-window flights of the smoke run as request columns, and their
    outcomes keyed by the request key fields (what a labels file holds)."""
    from tabstudy.studies.flights import features

    raw = pd.read_parquet(work / "data" / "raw" / "flights.parquet")
    labelled = features.add_label(features.schedule_times(raw), 15, "drop")
    test = labelled[labelled[features.DATE_COLUMN] >= pd.Timestamp("2013-11-01").date()]
    columns = _jsonable(flight_requests(test.reset_index(drop=True)))
    labels = pd.DataFrame({k: columns[k] for k in ("carrier", "flight", "origin", "sched_dep")})
    labels["y"] = test["y"].to_numpy()
    return columns, labels


def _metadata(url: str) -> dict:
    return httpx.get(f"{url}/v1/metadata", timeout=10).json()


def test_promotion_gate_canary_shadow_report_and_rollback(repo: Path) -> None:
    out = run_in(repo, *REGISTRY, "promote")
    assert "champion gate: PROMOTE (no champion yet)" in out.stdout
    assert "v0.0.1 is the champion (prod)" in out.stdout

    # a challenger: one training epoch instead of three, as a DVC experiment; a train param
    # re-runs exactly train and what follows it (monitor reads the drift reference from the
    # bundle, materialize builds the store for it; source and champion always run)
    exp = run_in(repo, "dvc", "exp", "run", "-S", "train.profiles.smoke.epochs=1")
    ran = stages_ran(exp.stdout)
    assert set(ran) == {"source", "train", "champion", "evaluate", "model_card", "monitor",
                        "materialize", "index"}, ran  # fmt: skip
    assert ran[-1] == "index"
    assert json.loads((repo / "reports/metrics/detail/train.json").read_text())["epochs_run"] == 1
    promo = json.loads((repo / "reports/metrics/detail/evaluate.json").read_text())["promotion"]
    assert promo["champion"]["version"] == "v0.0.1" and promo["version"] == "v0.0.2"
    assert f"champion gate: {promo['decision'].upper()} (against champion v0.0.1" in exp.stdout
    out = run_in(repo, *REGISTRY, "promote", check=False)
    assert "registered v0.0.2" in out.stdout
    if promo["decision"] == "refuse":  # the reasons are printed, the challenger is in staging
        assert out.returncode == 1 and all(r in out.stdout for r in promo["reasons"])
    else:
        assert out.returncode == 0 and "v0.0.2 is the champion" in out.stdout
        run_in(repo, *REGISTRY, "rollback")
    run_in(repo, *REGISTRY, "challenger", "v0.0.2")
    listed = run_in(repo, *REGISTRY, "list").stdout
    assert "v0.0.1     prod" in listed and "v0.0.2     staging" in listed

    set_params(repo, **{"serve.rollout": "canary", "serve.canary_share": 0.3})
    proc, url = _start(repo)
    try:
        meta = _metadata(url)
        assert meta["registry_version"] == "v0.0.1" and meta["rollout"]["mode"] == "canary"
        assert meta["rollout"]["variants"]["challenger"]["registry_version"] == "v0.0.2"
        columns, labels = _flights(repo)
        n = len(labels)
        batch = httpx.post(f"{url}/v1/predict/batch", json=columns, timeout=120).json()
        share = batch["variants"].count("challenger")
        lo, hi = binom.ppf([0.0005, 0.9995], n, 0.3)
        assert lo <= share <= hi, (share, n)
        first = {k: v[0] for k, v in columns.items()}
        again = {httpx.post(f"{url}/v1/predict", json=first, timeout=10).json()["variant"]
                 for _ in range(5)}  # fmt: skip
        assert again == {batch["variants"][0]}  # a flight always meets the same model
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'tabstudy_rows_answered_total{variant="challenger"' in metrics

        labels_file = repo / "labels.csv"
        labels.to_csv(labels_file, index=False)
        report = run_in(repo, sys.executable, "-m", "tabstudy", "rollout-report",
                        "--labels", str(labels_file))  # fmt: skip
        result = json.loads((repo / "reports/rollout/comparison.json").read_text())
        assert result["labelled_rows"] == n + 5  # the batch, and the first flight 5 times more
        assert result["versions"] == {"champion": ["v0.0.1"], "challenger": ["v0.0.2"]}
        for variant in ("champion", "challenger"):
            auc = result["auc_all_rows"][variant]
            assert auc["lo"] <= auc["roc_auc"] <= auc["hi"]
        assert "ROC AUC" in report.stdout and (repo / "reports/rollout/comparison.html").is_file()

        # shadow: a params change and one reload; the champion answers, both are logged
        set_params(repo, **{"serve.rollout": "shadow"})
        assert httpx.post(f"{url}/v1/admin/reload", timeout=60).status_code == 200
        shadow = httpx.post(f"{url}/v1/predict/batch", json=columns, timeout=120).json()
        assert set(shadow["variants"]) == {"champion"}

        # promote the challenger (staging is empty then: no rollout), then roll back, each with
        # one reload while clients keep asking
        set_params(repo, **{"serve.rollout": "none"})
        codes: list[int] = []
        stop = threading.Event()

        def ask() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    codes.append(client.post("/v1/predict", json=first).status_code)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        run_in(repo, *REGISTRY, "promote", "--force", "canary looked fine")
        assert (
            httpx.post(f"{url}/v1/admin/reload", timeout=60).json()["registry_version"] == "v0.0.2"
        )
        rolled = run_in(repo, *REGISTRY, "rollback").stdout
        assert "v0.0.2 rolled back; the champion is v0.0.1 again" in rolled
        assert (
            httpx.post(f"{url}/v1/admin/reload", timeout=60).json()["registry_version"] == "v0.0.1"
        )
        stop.set()
        for t in threads:
            t.join()
        assert codes and set(codes) == {200}, {c: codes.count(c) for c in set(codes)}
        assert _metadata(url)["registry_version"] == "v0.0.1"
    finally:
        assert _stop(proc) == 0
    log = requestlog.read(repo / "data/serving/requests.jsonl")  # every worker's file
    shadowed = [r for r in log if r.get("rollout") == "shadow"]
    assert shadowed and len(shadowed[0]["challenger_probability"]) == len(labels)
    tags = subprocess.run(["git", "tag"], cwd=repo, capture_output=True, text=True).stdout
    assert "nycflights13@v0.0.1" in tags and "nycflights13@v0.0.2" in tags
    probs = np.asarray(batch["probabilities"])
    assert ((probs >= 0) & (probs <= 1)).all()
