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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tabstudy.serving import requestlog

from .conftest import _env, current_copy, run_in, set_params
from .test_deploy import exported_metrics, queried_metrics
from .test_online_store import requests as flight_requests

pytestmark = pytest.mark.slow
TOKEN = "s3cret-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WORKERS = 2
"""Worker processes of the servers these tests start (``serve.workers: auto`` would follow the
machine's cores): every test runs against the forked service; one runs a single process."""


def _start(
    work: Path, *args: str, env: dict[str, str] | None = None, workers: int = WORKERS
) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "tabstudy", "serve", "--port", str(port),
           "--workers", str(workers), *args]  # fmt: skip
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


def _start_with(work: Path, **params: object) -> tuple[subprocess.Popen, str]:
    """A server started with ``params`` changed (read at start-up); params.yaml is restored."""
    saved = (work / "params.yaml").read_text()
    try:
        set_params(work, **params)
        return _start(work)
    finally:
        (work / "params.yaml").write_text(saved)


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


def test_the_openapi_contract_holds_under_every_schemathesis_check(server, tmp_path) -> None:
    """schemathesis generates requests from the OpenAPI schema, valid and invalid, and runs every
    check: no 5xx, schema-valid bodies accepted, invalid ones rejected, every status, header and
    body as documented. Only bodies that break the two rules JSON Schema cannot express (equal
    batch column lengths, ``as_of`` not after ``sched_dep``; documented 422s) are not generated
    (tests/schemathesis_hooks.py)."""
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server}/openapi.json",
           "--checks", "all", "--max-examples", "60", "--seed", "1",
           "--workers", "1"]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "8/8" in out.stdout and "Tested: 8" in out.stdout, out.stdout[-2000:]


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


def _every_worker(url: str, tries: int = 400) -> dict[int, dict]:
    """``/v1/metadata`` as each worker process answers it: fresh connections, 8 at a time,
    until every one of the :data:`WORKERS` has answered."""

    def ask(_: int) -> dict:
        with httpx.Client(base_url=url, timeout=30) as client:  # a new connection each
            return client.get("/v1/metadata").json()

    seen: dict[int, dict] = {}
    with ThreadPoolExecutor(8) as pool:
        for _ in range(tries // 8):
            seen.update({m["worker"]["index"]: m for m in pool.map(ask, range(8))})
            if len(seen) == WORKERS:
                return seen
    raise AssertionError(f"only workers {sorted(seen)} of {WORKERS} answered in {tries} tries")


def test_every_worker_serves_one_version_counts_for_the_service_and_reloads(server) -> None:
    """Two forked workers: one model version, one /metrics for both, and a reload that
    returns once every worker serves the new generation."""
    before = _every_worker(server)
    assert len({m["worker"]["pid"] for m in before.values()}) == WORKERS
    assert len({m["model_version"] for m in before.values()}) == 1
    assert {m["worker"]["of"] for m in before.values()} == {WORKERS}
    name = 'tabstudy_requests_total{path="/v1/predict",status="200"}'
    counted, scored = _metric(server, name), _metric(server, "tabstudy_prediction_score_count")

    def predict(i: int) -> int:
        with httpx.Client(base_url=server, timeout=30) as client:
            return client.post("/v1/predict", json={**GOOD, "flight": 1 + i}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(predict, range(40))) == {200}
    assert _metric(server, name) == counted + 40  # whichever worker answered
    assert _metric(server, "tabstudy_prediction_score_count") == scored + 40
    reloaded = httpx.post(f"{server}/v1/admin/reload", timeout=120)
    assert reloaded.status_code == 200 and reloaded.json()["workers"] == WORKERS, reloaded.text
    after = _every_worker(server)
    generations = {m["worker"]["generation"] for m in after.values()}
    assert len(generations) == 1
    assert generations.pop() > max(m["worker"]["generation"] for m in before.values())
    assert {m["model_version"] for m in after.values()} == {before[0]["model_version"]}
    assert _metric(server, 'tabstudy_reloads_total{outcome="ok"}') >= WORKERS


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
        ({"as_of": 0}, "as_of"),  # not read as 1970
        ({"flight": "1545"}, "flight"),
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
    r = httpx.post(f"{server}/v1/predict", content=b'{"carrier": "\xff\xfe"}', headers={
        "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"], r.text
    assert r.json()["detail"][0]["type"] == "body_unparseable"
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


def _metric(url: str, name: str) -> float:
    """A sample's value on /metrics (0 when absent)."""
    lines = [x for x in httpx.get(f"{url}/metrics").text.splitlines() if x.startswith(name + " ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def _at(as_of: pd.Timestamp, hours_before_departure: float = 2) -> dict[str, str]:
    """GOOD, predicted at ``as_of`` (UTC), departing ``hours_before_departure`` later."""
    dep = (as_of + pd.Timedelta(hours=hours_before_departure)).tz_convert("America/New_York")
    return {**GOOD, "as_of": as_of.isoformat(), "sched_dep": dep.strftime("%Y-%m-%dT%H:%M:00")}


def _logged(work: Path, request_id: str) -> dict:
    """The request log's line of ``request_id`` (the writer thread appends it shortly)."""
    log = work / "data" / "serving" / "requests.jsonl"
    for _ in range(100):
        for file in requestlog.files(log):  # every worker's
            for line in file.read_text().splitlines():
                if request_id in line:
                    return json.loads(line)
        time.sleep(0.05)
    raise AssertionError(f"{request_id} not in {log}")


def test_stale_features_are_flagged_counted_and_logged(work, server) -> None:
    """A flight six years after the store's data, one before its first events, and one an hour
    past the watermarks (fresh) on the same service."""
    store = httpx.get(f"{server}/v1/metadata").json()["online_store"]
    assert set(store["watermarks"]) == set(store["first_events"]) == {"weather", "outcomes", "legs"}
    marks = {k: pd.Timestamp(v) for k, v in store["watermarks"].items()}
    firsts = {k: pd.Timestamp(v) for k, v in store["first_events"].items()}
    every = ["legs", "outcomes", "weather"]
    counted = {s: _metric(server, f'tabstudy_stale_features_total{{source="{s}"}}') for s in every}
    late = httpx.post(f"{server}/v1/predict", json={**GOOD, "sched_dep": "2019-12-23T17:30:00"})
    assert late.status_code == 200 and late.json()["stale"] == every, late.text
    early = httpx.post(f"{server}/v1/predict", json=_at(min(firsts.values()) - pd.Timedelta("1h")))
    assert early.status_code == 200 and early.json()["stale"] == every, early.text
    fresh = httpx.post(f"{server}/v1/predict", json=_at(min(marks.values()) + pd.Timedelta("1h")))
    assert fresh.status_code == 200 and fresh.json()["stale"] == [], fresh.text
    for s in every:
        assert _metric(server, f'tabstudy_stale_features_total{{source="{s}"}}') == counted[s] + 2
    assert _logged(work, late.json()["request_id"])["stale"] == [every]
    assert _logged(work, fresh.json()["request_id"])["stale"] == [[]]
    rows = [GOOD | {"sched_dep": "2019-12-23T17:30:00"},
            _at(min(marks.values()) + pd.Timedelta("1h"))]  # fmt: skip
    body = {k: [r.get(k) for r in rows] for k in rows[1]}
    batch = httpx.post(f"{server}/v1/predict/batch", json=body)
    assert batch.status_code == 200 and batch.json()["stale"] == [every, []], batch.text


def test_refuse_mode_answers_422_naming_the_source_its_watermark_and_the_time(work) -> None:
    proc, url = _start_with(work, **{"serve.staleness": "refuse"})
    try:
        r = httpx.post(f"{url}/v1/predict", json={**GOOD, "sched_dep": "2019-12-23T17:30:00"})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "sched_dep"]
        assert detail["msg"].startswith("stale features: the prediction time "
                                        "2019-12-23T20:30:00+00:00 is ")  # fmt: skip
        marks = httpx.get(f"{url}/v1/metadata").json()["online_store"]["watermarks"]
        for source in ("legs", "outcomes", "weather"):
            assert f"after the {source} watermark {marks[source]}" in detail["msg"]
        assert "serve.max_staleness_hours.weather is 6" in detail["msg"]
        ok = httpx.post(f"{url}/v1/predict", json=GOOD)
        assert ok.status_code == 200 and ok.json()["stale"] == []
        rows = {k: [v, v] for k, v in GOOD.items()} | {"as_of": [None, "2012-06-01T12:00:00Z"]}
        r = httpx.post(f"{url}/v1/predict/batch", json=rows)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "as_of", 1]
        assert "before the first" in r.json()["detail"][0]["msg"]
    finally:
        _stop(proc)


def test_a_full_request_log_answers_503_with_retry_after_and_counts_it(work, tmp_path) -> None:
    """Each worker's log is a FIFO nobody reads (a disk that stopped): once the pipes and the
    queues (serve.log_queue: 2) are full, requests get 503 with Retry-After, counted in /metrics
    (over the workers), and every request answered 200 is in the logs once they are read."""
    copy = tmp_path / "repo"
    shutil.copytree(work, copy, symlinks=True)
    set_params(copy, **{"serve.log_queue": 2})
    readers = []
    for worker in range(WORKERS):
        log = copy / "data" / "serving" / requestlog.worker_file(worker)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        os.mkfifo(log)
        readers.append(os.open(log, os.O_RDONLY | os.O_NONBLOCK))  # never read: the pipe fills
    proc, url = _start(copy)
    codes, retry = [], set()
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(60):
            r = client.post("/v1/predict", json={**GOOD, "flight": 1 + i})
            codes.append(r.status_code)
            if r.status_code == 503:
                retry.add(r.headers.get("retry-after"))
                assert "requests waiting for the disk" in r.json()["detail"]
        assert _metric(url, "tabstudy_request_log_full_total") == codes.count(503)
    assert set(codes) == {200, 503} and retry == {"1"}, codes
    chunks: list[list[bytes]] = [[] for _ in readers]
    drains = [threading.Thread(target=lambda fd=fd, out=out: out.extend(_drain(fd)), daemon=True)
              for fd, out in zip(readers, chunks, strict=True)]  # fmt: skip
    for drain in drains:
        drain.start()
    assert _stop(proc) == 0
    for drain in drains:
        drain.join(30)
    lines = [b"".join(part).decode().splitlines() for part in chunks]
    assert sum(map(len, lines)) == codes.count(200)


def _drain(fd: int) -> list[bytes]:
    """Read a FIFO until its writer closes it."""
    import select

    out = []
    while True:
        select.select([fd], [], [], 30)
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # nothing yet, the writer still open
            continue
        if not chunk:
            return out
        out.append(chunk)


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


def test_the_dashboard_and_the_alerts_query_only_exported_metrics(server) -> None:
    exported = exported_metrics(httpx.get(f"{server}/metrics").text)
    queried = queried_metrics()
    assert len(queried) >= 12 and queried <= exported, sorted(queried - exported)
    reference = _metric(server, "tabstudy_reference_positive_share")
    assert 0 < reference < 1  # the champion's threshold.json, for TabstudyScoreShift


def test_explain_names_the_features_behind_one_prediction(server) -> None:
    """The same row as /v1/predict: its probability, the top contributions largest first, the
    same answer twice (deterministic), every feature when asked for all."""
    r = httpx.post(f"{server}/v1/explain", params={"top": 3}, json=GOOD)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["method"] == "occlusion" and len(out["contributions"]) == 3
    sizes = [abs(c["contribution"]) for c in out["contributions"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
    served = httpx.post(f"{server}/v1/predict", json=GOOD).json()["probability"]
    assert abs(out["probability"] - served) < 1e-6
    again = httpx.post(f"{server}/v1/explain", params={"top": 3}, json=GOOD).json()
    assert again["contributions"] == out["contributions"]
    spec = httpx.get(f"{server}/v1/metadata").json()["features"]
    every = httpx.post(f"{server}/v1/explain", params={"top": 1000}, json=GOOD).json()
    assert sorted(c["feature"] for c in every["contributions"]) == sorted(spec)
    assert httpx.post(f"{server}/v1/explain", params={"top": 0}, json=GOOD).status_code == 422
    documented = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert "503" not in documented["/v1/explain"]["post"]["responses"]  # no log line to wait for
    assert "503" in documented["/v1/predict"]["post"]["responses"]
    bad = httpx.post(f"{server}/v1/explain", json={**GOOD, "flight": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][1] == "flight"


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
    """Resident memory of ``pid`` and its children (the worker processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.is_file() else []
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) + sum(map(_rss_kib, kids))
    return 0


def test_soak_then_sigterm_loses_no_log_line(work) -> None:
    """20,000 single-flight requests from 8 clients: no error, every request logged once (across
    the rotated files) even though SIGTERM comes right after; resident memory sampled every 1,000
    requests."""
    log = work / "data" / "serving" / "requests.jsonl"
    for old in requestlog.files(log):
        old.unlink()
    proc, url = _start_with(work, **{"serve.log_max_bytes": 4 * 2**20, "serve.log_keep": 50})
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
    assert len(requestlog.files(log)) > 3
    ids = [r["request_id"] for r in requestlog.read(log)]
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
    out = run_in(copy, sys.executable, "-m", "tabstudy", "serve", check=False)
    assert out.returncode == 2 and "data/online/store.sqlite: built for bundle 0000" in out.stderr
    spec = copy / "models" / "bundle" / "threshold.json"
    spec.write_text(spec.read_text().replace("0.", "0.9", 1))
    out = run_in(copy, sys.executable, "-m", "tabstudy", "serve", check=False)
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
