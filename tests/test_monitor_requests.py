"""Monitoring served traffic, for real: one month of test flights is replayed through the running
service (uvicorn on loopback over a copy of the smoke run), then ``tabstudy monitor
--requests`` reports on the request log with the outcomes as labels,
and the report must match the monitor stage's code run offline on the same rows: the same
windows, the same drift statistics, prediction drift and realised performance up to the
runtimes' float differences, the same alerts."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from .conftest import current_copy, run_in
from .test_online_store import requests as flight_requests
from .test_serving import _jsonable, _start, _stop

pytestmark = pytest.mark.slow
MONTH = (pd.Timestamp("2013-12-01").date(), pd.Timestamp("2014-01-01").date())

OFFLINE = """
import sys
import pandas as pd
from tabstudy import paths
from tabstudy.models import keras_model
from tabstudy.models.bundle import load_bundle
from tabstudy.monitoring import report
from tabstudy.pipeline.serve import load_config
from tabstudy.spec import LABEL, load_spec

cfg = load_config("monitor", "evaluate")
spec = load_spec()
test = pd.read_parquet(paths.processed("test"))
day = test[spec.time_column]
test = test[(day >= sys.argv[2]) & (day < sys.argv[3])].reset_index(drop=True)
rows = test[spec.categorical() + spec.numeric()].copy()
rows[report.SCORE] = keras_model.predict(load_bundle(paths.bundle_dir()).keras_model(), test)
rows[report.TIME] = test[spec.time_column]
rows[report.LABEL_COLUMN] = test[LABEL].astype(float)
reference = report.Reference.read(paths.monitoring_dir())
result = report.monitor(pd.read_parquet(paths.processed("train")), rows, spec.categorical(),
                        spec.numeric(), {f.name: f.source for f in spec.features}, reference,
                        cfg.monitor, cfg.evaluate.min_roc_auc, cfg.seed,
                        reference_stats=load_bundle(paths.bundle_dir()).reference)
result.write(paths.root() / sys.argv[1])
"""


@pytest.fixture(scope="module")
def work(smoke_run, tmp_path_factory) -> Path:
    path = current_copy(smoke_run[0], tmp_path_factory.mktemp("monitor") / "repo")
    shutil.rmtree(path / "data" / "serving", ignore_errors=True)
    return path


def _month_flights(work: Path) -> pd.DataFrame:
    """The month's labelled flights in the order of the processed test rows."""
    from tabstudy.studies.flights import features

    raw = pd.read_parquet(work / "data" / "raw" / "flights.parquet")
    labelled = features.add_label(features.schedule_times(raw), 15, "drop")
    day = labelled[features.DATE_COLUMN]
    return labelled[(day >= MONTH[0]) & (day < MONTH[1])].reset_index(drop=True)


def _replay(work: Path, flights: pd.DataFrame) -> None:
    body = _jsonable(flight_requests(flights))
    proc, url = _start(work)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for lo in range(0, len(flights), 250):
                part = {k: v[lo : lo + 250] for k, v in body.items()}
                assert client.post("/v1/predict/batch", json=part).status_code == 200
    finally:
        assert _stop(proc) == 0


def _labels(flights: pd.DataFrame, path: Path) -> Path:
    """The outcomes as a user would bring them: the request key fields and the label."""
    columns = _jsonable(flight_requests(flights))
    frame = pd.DataFrame({k: columns[k] for k in ("carrier", "flight", "origin", "sched_dep")})
    frame["y"] = flights["y"].to_numpy()
    frame.to_csv(path, index=False)
    return path


def test_a_replayed_month_gives_the_offline_monitor_report(work) -> None:
    flights = _month_flights(work)
    assert len(flights) >= 300, len(flights)
    _replay(work, flights)
    log = work / "data" / "serving" / "requests.jsonl"
    labels = _labels(flights, work / "labels.csv")
    out = run_in(work, sys.executable, "-m", "tabstudy", "monitor", "--requests", str(log),
                 "--labels", str(labels), "--out", "reports/monitoring/requests")  # fmt: skip
    assert "written:" in out.stdout
    run_in(work, sys.executable, "-c", OFFLINE, "reports/offline_month", *map(str, MONTH))
    served, offline = work / "reports/monitoring/requests", work / "reports/offline_month"

    def table(base: Path, name: str) -> pd.DataFrame:
        return pd.read_csv(base / f"{name}.csv")

    drift_s, drift_o = table(served, "drift_over_time"), table(offline, "drift_over_time")
    assert len(drift_s) == len(drift_o) > 0
    assert (drift_s["window"] == drift_o["window"]).all()
    assert (drift_s["feature"] == drift_o["feature"]).all()
    assert (drift_s["rows"] == drift_o["rows"]).all()  # every replayed row was logged and dated
    for col in ("statistic", "pvalue", "psi"):
        np.testing.assert_allclose(drift_s[col], drift_o[col], rtol=0, atol=1e-9, err_msg=col)
    assert (drift_s["status"] == drift_o["status"]).all()
    pred_s, pred_o = table(served, "prediction_drift"), table(offline, "prediction_drift")
    np.testing.assert_allclose(pred_s["mean_score"], pred_o["mean_score"], atol=1e-5)
    np.testing.assert_allclose(pred_s["psi"], pred_o["psi"], atol=0.02)
    perf_s, perf_o = table(served, "performance"), table(offline, "performance")
    assert (perf_s["labelled"] == perf_o["labelled"]).all()
    assert perf_s["labelled"].any() and not perf_s["labelled"].all()  # the label delay shows
    for col in ("roc_auc", "brier", "est_auc", "est_brier"):
        np.testing.assert_allclose(perf_s[col], perf_o[col], rtol=0, atol=2e-3, err_msg=col)
    alerts_s = json.loads((served / "alerts.json").read_text())["alerts"]
    alerts_o = json.loads((offline / "alerts.json").read_text())["alerts"]
    assert [(a["window"], a["rule"]) for a in alerts_s] == [
        (a["window"], a["rule"]) for a in alerts_o
    ]
    assert (served / "performance.png").is_file()


def test_a_log_of_another_model_is_refused_by_name(work, tmp_path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_text(json.dumps({"model_version": "000000000000", "features": {}, "probability": []}))
    out = run_in(work, sys.executable, "-m", "tabstudy", "monitor", "--requests", str(log),
                 check=False)  # fmt: skip
    assert out.returncode == 2
    assert "no request in the log was answered by model" in out.stderr
