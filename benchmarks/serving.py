"""The prediction service against a naive one, side by side in one run, on loopback.

* ours, twice: ``tabstudy serve --workers 1`` and with ``--workers N``
  (default: the cores; processes forked after the online store is loaded), online store in
  memory, LiteRT for single rows, the SavedModel for batches;
* before: the service as it was when issue 24 set the throughput goals (:data:`BEFORE`, one
  uvicorn process, endpoints in the threadpool), checked out of git into a temporary worktree
  and run on this workspace's bundle and store with that commit's ``params.yaml``;

(each of these three in its own :func:`linked_workdir`: its request log in a temporary
directory, not the workspace's);
* floor: :func:`floor_app`, FastAPI with the service's request and response models and a
  fixed answer (what a POST with a body costs the framework, against its ``/livez``);
* naive: a FastAPI app that, per request, recomputes the features with the offline pandas code
  (:func:`tabstudy.studies.flights.features.build_features` over the raw flights of the 30 days
  before the flight plus the request) and calls ``model.predict``.

Both serve the bundle of the last ``make repro``. Clients are threads with keep-alive
connections writing prepared request bytes (the load generator shares the machine's cores with
the servers, so it must cost little). Counts and times
are bounded; the naive server gets fewer requests (it is ~100x slower); the three servers take
turns at each client count. Output: p50/p99 and requests/s at 1 and 8 clients, the ratios of
requests/s at 8 clients (N workers against 1, against before and against naive), and per
configuration of ours the
batch endpoint's rows/s on 10,000-row batches, ``/v1/predict``'s p50 against ``/livez``'s (the
framework's floor) and ``/v1/explain``'s p50 at 1 client.

Usage: .venv/bin/python benchmarks/serving.py [--requests 2000] [--naive-requests 60]
[--before COMMIT | --before ""]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "baba9f174aa847c0c82f1f73e7d76be766d1e544"
"""The last commit before issue 24's work: its service is "the single-worker service of today"
the issue's throughput goal is stated against."""
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


def floor_app() -> Any:
    """FastAPI's own floor for this contract: the service's request and response models under
    the same uvicorn settings, and nothing else. ``/livez`` as the service has it, and
    ``/v1/predict`` validating the body and answering a fixed prediction (no features, no
    model, no log, no metrics): what a POST with a body and a JSON answer costs the framework."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    from tabstudy.serving import schemas
    from tabstudy.studies.flights.online import FlightRequest

    app = FastAPI()
    answer = schemas.Prediction(request_id="0" * 32, probability=0.5, decision=True,
                                threshold=0.5, model_version="floor").model_dump_json()  # fmt: skip

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    async def predict(row: FlightRequest) -> Any:
        return Response(answer, media_type="application/json")

    predict.__annotations__["row"] = FlightRequest  # a local name: FastAPI cannot resolve the text
    app.post("/v1/predict", response_model=schemas.Prediction)(predict)
    return app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linked_workdir(target: Path, params: str | None = None) -> dict[str, str]:
    """A work directory at ``target`` whose entries link to this workspace's (bundle, store,
    registry), except ``data/serving``: the server started with the returned environment writes
    its request log there, not into the workspace's (which ``monitor --requests`` reads), and
    no two servers share a log. ``params`` replaces ``params.yaml``."""
    target.mkdir()
    replaced = {"data", "params.yaml"} if params else {"data"}
    for entry in ROOT.iterdir():
        if entry.name not in replaced:
            (target / entry.name).symlink_to(entry)
    (target / "data").mkdir()
    for entry in (ROOT / "data").iterdir():
        if entry.name != "serving":
            (target / "data" / entry.name).symlink_to(entry)
    if params:
        (target / "params.yaml").write_text(params)
    return {"TABSTUDY_WORKDIR": str(target)}


def _has_commit(commit: str) -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT,
                           capture_output=True, check=False)  # fmt: skip
    return found.returncode == 0


@contextmanager
def before_service(commit: str, tmp: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The command and environment that serve ``commit``'s code: a detached worktree of it, run
    in a :func:`linked_workdir` with the commit's ``params.yaml`` (its config knows only its own
    keys). The worktree is removed after."""
    src = tmp / "before-src"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(src), commit],
                   cwd=ROOT, check=True)  # fmt: skip
    try:
        env = linked_workdir(tmp / "before", (src / "params.yaml").read_text())
        yield (
            [sys.executable, "-m", "tabstudy.pipeline.serve"],
            {**env, "PYTHONPATH": str(src / "src")},
        )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(src)], cwd=ROOT,
                       check=False)  # fmt: skip


def _start(cmd: list[str], extra: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(extra or {})}
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


def _request(url: str, path: str) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request of ``path`` (POST with the example body;
    GET for ``/livez``)."""
    host = url.removeprefix("http://")
    if path == "/livez":
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    body = json.dumps(BODY).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


def _exchange(conn: socket.socket, request: bytes) -> None:
    """Send ``request``, read the whole response (its Content-Length); fail on a non-200."""
    conn.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))  # fmt: skip
    while len(rest) < length:
        rest += conn.recv(65536)


def _load(
    url: str, requests: int, clients: int, path: str = "/v1/predict"
) -> tuple[np.ndarray, float]:
    """Latencies (ms) and requests/s of ``requests`` calls of ``path`` from ``clients`` threads,
    each on its own keep-alive connection. The client writes prepared bytes and reads the
    response by its Content-Length (tens of microseconds of CPU a request, where an HTTP
    client library spends more than the server: on 2 cores it would measure itself)."""
    per = max(requests // clients, 1)
    request = _request(url, path)
    host, port = url.removeprefix("http://").split(":")

    def client(_: int) -> list[float]:
        out = []
        with socket.create_connection((host, int(port))) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(per):
                t = time.perf_counter()
                _exchange(conn, request)
                out.append(time.perf_counter() - t)
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lat = np.array([x for part in pool.map(client, range(clients)) for x in part]) * 1000
    return lat, len(lat) / (time.perf_counter() - start)


def flights_batch(rows: int = 10_000) -> dict[str, list[Any]]:
    """The last ``rows`` December 2013 flights of the raw data with a tail number, as the batch
    endpoint's columns: distinct flights, as a nightly scoring job sends (a batch of one row
    repeated would look up one key per column and flatter the service)."""
    import pandas as pd

    raw = pd.read_parquet(ROOT / "data" / "raw" / "flights.parquet")
    dec = raw[(raw["month"] == 12) & raw["tailnum"].notna()].tail(rows)

    def hhmm(t: pd.Series) -> pd.Series:
        return (t // 100 % 24).astype(str).str.zfill(2) + ":" + (t % 100).astype(str).str.zfill(2)

    day = pd.to_datetime(dec[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    return {"carrier": dec["carrier"].tolist(), "flight": dec["flight"].tolist(),
            "tailnum": dec["tailnum"].tolist(), "origin": dec["origin"].tolist(),
            "dest": dec["dest"].tolist(),
            "sched_dep": (day + "T" + hhmm(dec["sched_dep_time"]) + ":00").tolist(),
            "sched_arr": hhmm(dec["sched_arr_time"]).tolist()}  # fmt: skip


def _batch_rows_per_s(url: str, body: dict[str, list[Any]], repeats: int = 5) -> float:
    """Rows/s of ``repeats`` batches, their JSON encoded once (the client's encoding is not the
    server's work)."""
    rows, content = len(body["carrier"]), json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, timeout=120) as c:
        c.post("/v1/predict/batch", content=content, headers=headers).raise_for_status()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            c.post("/v1/predict/batch", content=content, headers=headers).raise_for_status()
    return rows * repeats / (time.perf_counter() - start)


def _percentiles(lat: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(lat, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--naive-requests", type=int, default=60)
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="worker processes of the second configuration (default: cores)",
    )
    parser.add_argument("--before", default=BEFORE,
                        help="commit of the 'before' service ('' to leave it out)")  # fmt: skip
    args = parser.parse_args()
    serve = [sys.executable, "-m", "tabstudy", "serve", "--workers"]
    batch = flights_batch()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tabstudy-bench-")))
        configs: dict[str, tuple[list[str], dict[str, str]]] = {
            "1 worker": ([*serve, "1"], linked_workdir(tmp / "one")),
            f"{args.workers} workers": ([*serve, str(args.workers)], linked_workdir(tmp / "many")),
            "naive": ([sys.executable, __file__, "--serve-naive"], {}),
            "floor": ([sys.executable, __file__, "--serve-floor"], {}),
        }
        if args.before and _has_commit(args.before):
            configs["before"] = stack.enter_context(before_service(args.before, tmp))
        elif args.before:
            print(f"before: commit {args.before} is not in this clone; left out", file=sys.stderr)
        started = {name: _start(*config) for name, config in configs.items()}
        results: dict[str, dict[str, Any]] = {name: {} for name in configs}
        try:
            if (
                "before" in started
                and "worker" in httpx.get(f"{started['before'][1]}/v1/metadata").json()
            ):
                raise SystemExit("the 'before' server runs today's code (PYTHONPATH ignored?)")
            for clients in (1, 8):  # the configurations take turns: the same noise for all
                for name, (_, url) in started.items():
                    n = args.naive_requests if name == "naive" else args.requests
                    results[name][clients] = _load(url, n, clients)
            for name, (_, url) in started.items():
                if name == "naive":
                    continue
                results[name]["livez"] = _load(url, args.requests, 1, "/livez")
                if name == "floor":
                    continue
                results[name]["batch"] = _batch_rows_per_s(url, batch)
                if name != "before":  # it has no /v1/explain
                    results[name]["explain"] = _load(url, args.requests // 4, 1, "/v1/explain")
                    results[name]["memory"] = _memory(started[name][0].pid)
        finally:
            for proc, _ in started.values():
                proc.terminate()
                proc.wait(timeout=60)
    _report(results, next(iter(configs)), list(configs)[1])
    _budget()


def _memory(pid: int) -> list[tuple[int, int]]:
    """Resident and proportional set size (MiB) of ``pid`` and each child (a worker): PSS
    splits the pages processes share, so it shows what forking after the load saves."""
    out = []
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for p in [pid, *map(int, children.read_text().split())]:
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:]
        )
        out.append(tuple(int(fields[k].split()[0]) // 1024 for k in ("Rss", "Pss")))
    return out


def _budget(repeats: int = 2000) -> None:
    """Where one row's time goes, in this process without HTTP (microseconds each, median of
    ``repeats``): decoding and validating the JSON body, the features, the runtime, the whole
    of scoring (features, runtime, freshness, request-log record and metrics)."""
    from tabstudy.pipeline import serve
    from tabstudy.serving.metrics import Metrics
    from tabstudy.serving.scoring import score
    from tabstudy.serving.state import State

    ready, _, _ = serve.settings()
    state = State(ready)
    state.warm_up()
    metrics, body = Metrics(), json.dumps(BODY).encode()
    row = ready.request_model.model_validate_json(body)

    def columns() -> dict[str, list[Any]]:
        return {k: [v] for k, v in dict(row).items()}

    feats = state.online.features(columns())
    steps = {
        "decode+validate": lambda: ready.request_model.model_validate_json(body),
        "features": lambda: state.online.features(columns()),
        "runtime": lambda: state.champion.runtime.predict(feats),
        "scoring in all": lambda: score(state, metrics, columns(), "predict"),
    }
    times = {}
    for name, step in steps.items():
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            step()
            runs.append(time.perf_counter() - t)
        times[name] = float(np.median(runs)) * 1e6
    state.log.close()
    print(
        "one row, in-process (µs, median): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items())
    )


def _report(results: dict[str, dict[str, Any]], single: str, several: str) -> None:
    """The table, then the ratios the goals are stated in."""
    print(f"{'clients':>7} {'server':>10} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    for clients in (1, 8):
        for name, res in results.items():
            lat, rate = res[clients]
            p50, p99 = _percentiles(lat)
            print(f"{clients:>7} {name:>10} {len(lat):>8} {p50:>8.2f} {p99:>8.2f} {rate:>7.0f}")
    naive, one, many = (results[n][8][1] for n in ("naive", single, several))
    before = (f"{several} / before = {many / results['before'][8][1]:.2f}x (the goal: 3x); "
              if "before" in results else "")  # fmt: skip
    print(f"8 clients, requests/s: {several} / {single} = {many / one:.2f}x; {before}"
          f"{several} / naive = {many / naive:.0f}x")  # fmt: skip
    if "floor" in results:
        res, ours = results["floor"], results[single]
        floor, post = np.median(res["livez"][0]), np.median(res[1][0])
        print(f"floor (FastAPI, the same models, a fixed answer): /livez p50 {floor:.2f} ms, "
              f"/v1/predict p50 {post:.2f} ms = {post / floor:.2f}x its /livez; {single}'s "
              f"/v1/predict p50 is {np.median(ours[1][0]) / post:.2f}x the floor's")  # fmt: skip
    if "before" in results:
        res = results["before"]
        floor, p50 = np.median(res["livez"][0]), np.median(res[1][0])
        print(f"before: batch endpoint {res['batch']:,.0f} rows/s; 1 client: /livez p50 "
              f"{floor:.2f} ms, /v1/predict p50 {p50:.2f} ms")  # fmt: skip
    for name in (single, several):
        res = results[name]
        memory = "; ".join(f"{'parent' if i == 0 and len(res['memory']) > 1 else 'process'} "
                           f"RSS {rss} MiB, PSS {pss} MiB" if i == 0 else
                           f"worker {i - 1} RSS {rss} MiB, PSS {pss} MiB"
                           for i, (rss, pss) in enumerate(res["memory"]))  # fmt: skip
        print(f"{name}: memory: {memory}")
        floor, p50 = np.median(res["livez"][0]), np.median(res[1][0])
        explain = _percentiles(res["explain"][0])
        print(f"{name}: batch endpoint, 10,000 distinct flights a batch: {res['batch']:,.0f} "
              f"rows/s; "
              f"1 client: /livez p50 {floor:.2f} ms (the framework's floor), /v1/predict p50 "
              f"{p50 / floor:.2f}x it; /v1/explain p50 {explain[0]:.2f} ms, "
              f"p99 {explain[1]:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    if "--serve-naive" in sys.argv or "--serve-floor" in sys.argv:
        import uvicorn

        port = int(sys.argv[sys.argv.index("--port") + 1])
        app = naive_app() if "--serve-naive" in sys.argv else floor_app()
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        main()
