"""The prediction service against a naive one, side by side in one run, on loopback.

* ours: ``python -m tabstudy.pipeline.serve`` (online store in memory, LiteRT for single rows,
  the SavedModel for batches);
* naive: a FastAPI app that, per request, recomputes the features with the offline pandas code
  (:func:`tabstudy.studies.flights.features.build_features` over the raw flights of the 30 days
  before the flight plus the request) and calls ``model.predict``.

Both serve the bundle of the last ``make repro``. Clients are threads with keep-alive
connections (the load generator shares the machine's 2 cores with the server). Counts and times
are bounded; the naive server gets fewer requests (it is ~100x slower). Output: p50/p99 at 1 and
8 clients, the ratio of p50s, the batch endpoint's rows/s on 10,000-row batches, ``/v1/predict``'s
p50 against ``/livez``'s (the framework's floor) and ``/v1/explain``'s p50 at 1 client.

Usage: .venv/bin/python benchmarks/serving.py [--requests 2000] [--naive-requests 60]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BODY = {"carrier": "UA", "flight": 1712, "tailnum": "N75425", "origin": "EWR", "dest": "IAH",
        "sched_dep": "2013-12-23T18:04:00", "sched_arr": "21:13"}  # fmt: skip


def naive_app() -> Any:
    """The naive service (see the module docstring)."""
    import pandas as pd
    from fastapi import FastAPI

    from tabstudy import config, paths
    from tabstudy.data import ingest
    from tabstudy.models import keras_model
    from tabstudy.models.bundle import load_bundle
    from tabstudy.studies.flights import features

    params = config.resolve(config.load_params())
    tables = ingest.read_raw()
    model = load_bundle(paths.bundle_dir()).keras_model()
    app = FastAPI()

    @app.post("/v1/predict")
    def predict(row: dict[str, Any]) -> dict[str, float]:
        dep = datetime.fromisoformat(row["sched_dep"])
        hh, mm = (int(x) for x in row["sched_arr"].split(":"))
        fl = tables["flights"]
        day = pd.to_datetime(fl[["year", "month", "day"]])
        recent = fl[(day <= pd.Timestamp(dep)) & (day > pd.Timestamp(dep) - pd.Timedelta(days=30))]
        utc = pd.Timestamp(dep.replace(minute=0), tz="America/New_York").tz_convert("UTC")
        me = {"year": dep.year, "month": dep.month, "day": dep.day, "dep_time": np.nan,
              "sched_dep_time": dep.hour * 100 + dep.minute, "dep_delay": np.nan,
              "arr_time": np.nan, "sched_arr_time": hh * 100 + mm, "arr_delay": -1.0,
              "carrier": row["carrier"], "flight": row["flight"], "tailnum": row["tailnum"],
              "origin": row["origin"], "dest": row["dest"], "air_time": np.nan,
              "distance": float(recent["distance"].median()), "hour": dep.hour,
              "minute": dep.minute, "time_hour": utc.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        frame = pd.concat([recent, pd.DataFrame([me])], ignore_index=True)
        built = features.build_features(
            {**tables, "flights": frame}, params["target"]["delay_minutes"], "drop",
            params["features"]["horizon_hours"], params["features"]["outcome_margin_minutes"],
            params["features"]["history_smoothing"],
        )  # fmt: skip
        return {"probability": float(keras_model.predict(model, built.tail(1))[0])}

    return app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str]) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([*cmd, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/docs", timeout=1).status_code in (200, 401):
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"server {cmd} did not start")


def _load(
    url: str, requests: int, clients: int, path: str = "/v1/predict"
) -> tuple[np.ndarray, float]:
    """Latencies (ms) and requests/s of ``requests`` calls of ``path`` from ``clients`` threads
    (POST with the example body; GET for ``/livez``)."""
    per = max(requests // clients, 1)

    def client(_: int) -> list[float]:
        out = []
        with httpx.Client(base_url=url, timeout=60) as c:
            for _ in range(per):
                t = time.perf_counter()
                r = c.get(path) if path == "/livez" else c.post(path, json=BODY)
                out.append(time.perf_counter() - t)
                r.raise_for_status()
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lat = np.array([x for part in pool.map(client, range(clients)) for x in part]) * 1000
    return lat, len(lat) / (time.perf_counter() - start)


def _batch_rows_per_s(url: str, rows: int = 10_000, repeats: int = 5) -> float:
    body = {k: [v] * rows for k, v in BODY.items()}
    with httpx.Client(base_url=url, timeout=120) as c:
        c.post("/v1/predict/batch", json=body).raise_for_status()  # warm-up (shape)
        start = time.perf_counter()
        for _ in range(repeats):
            c.post("/v1/predict/batch", json=body).raise_for_status()
    return rows * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--naive-requests", type=int, default=60)
    args = parser.parse_args()
    ours, ours_url = _start([sys.executable, "-m", "tabstudy.pipeline.serve"])
    naive, naive_url = _start([sys.executable, __file__, "--serve-naive"])
    try:
        rows = []
        for clients in (1, 8):
            a = _load(ours_url, args.requests, clients)
            b = _load(naive_url, args.naive_requests, clients)
            rows.append((clients, a, b))
        batch = _batch_rows_per_s(ours_url)
        livez = _load(ours_url, args.requests, 1, "/livez")
        explain = _load(ours_url, args.requests // 4, 1, "/v1/explain")
    finally:
        for p in (ours, naive):
            p.terminate()
            p.wait(timeout=60)
    print(f"{'clients':>7} {'server':>6} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    for clients, a, b in rows:
        for name, (lat, rate) in (("ours", a), ("naive", b)):
            p50, p99 = np.percentile(lat, [50, 99])
            print(f"{clients:>7} {name:>6} {len(lat):>8} {p50:>8.2f} {p99:>8.2f} {rate:>7.0f}")
        print(f"{clients:>7} ratio of p50s (naive / ours): "
              f"{np.median(b[0]) / np.median(a[0]):.0f}x")  # fmt: skip
    print(f"batch endpoint, 10,000-row batches: {batch:,.0f} rows/s")
    floor, single = np.median(livez[0]), np.median(rows[0][1][0])
    print(f"1 client: /livez p50 {floor:.2f} ms (the framework's floor); /v1/predict p50 is "
          f"{single / floor:.2f}x it")  # fmt: skip
    print(f"1 client: /v1/explain p50 {np.median(explain[0]):.2f} ms, "
          f"p99 {np.percentile(explain[0], 99):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    if "--serve-naive" in sys.argv:
        import uvicorn

        port = int(sys.argv[sys.argv.index("--port") + 1])
        uvicorn.run(naive_app(), host="127.0.0.1", port=port, log_level="warning")
    else:
        main()
