"""Feature build on all 336,776 flights: ours (vectorised as-of joins and binary-searched rolling
windows) against the naive way (a Python loop over flights for the historical rates), measured in
one run, each in a fresh process for its peak memory.

The naive loop is timed on a random sample of flights and extrapolated linearly to all of them
(running it on every flight would take hours); the script says so in its output.

Usage: .venv/bin/python benchmarks/feature_build.py [--sample 200]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(queue: mp.Queue) -> None:
    from tabstudy.studies.flights import features as fe
    from tabstudy.studies.flights import ingest

    tables = ingest.ingest_tables(1.0, 0)
    base = _rss_mib()
    start = time.perf_counter()
    frame = fe.build_features(tables, 15, "positive", 2.0, 60.0, 20.0)
    queue.put(
        {
            "seconds": time.perf_counter() - start,
            "rows": len(frame),
            "peak_mib": _rss_mib(),
            "extra_mib": _rss_mib() - base,
        }
    )


def naive(queue: mp.Queue, sample: int) -> None:
    from tabstudy.studies.flights import features as fe
    from tabstudy.studies.flights import history, ingest

    tables = ingest.ingest_tables(1.0, 0)
    flights = fe.schedule_times(fe.add_label(tables["flights"], 15, "positive"))
    flights = fe.add_weather_asof(flights, tables["weather"], 2.0)
    base = _rss_mib()
    rows = np.random.default_rng(0).choice(len(flights), sample, replace=False)
    start = time.perf_counter()
    for i in rows:
        for cols in history.GROUPS.values():
            for days in history.WINDOWS_DAYS:
                history.naive_history_rate(flights, int(i), cols, days, 60.0, 20.0)
    per_flight = (time.perf_counter() - start) / sample
    queue.put(
        {
            "seconds": per_flight * len(flights),
            "per_flight_ms": per_flight * 1000,
            "rows": len(flights),
            "peak_mib": _rss_mib(),
            "extra_mib": _rss_mib() - base,
        }
    )


def _measure(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue, *args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=200, help="flights timed for the naive loop")
    args = parser.parse_args()
    fast = _measure(ours)
    slow = _measure(naive, args.sample)
    print(
        f"ours : {fast['rows']} flights, all features in {fast['seconds']:.2f} s, "
        f"peak RSS {fast['peak_mib']:.0f} MiB (+{fast['extra_mib']:.0f} MiB for the build)"
    )
    print(
        f"naive: historical rates only, Python loop, {slow['per_flight_ms']:.1f} ms/flight "
        f"on {args.sample} sampled flights -> {slow['seconds']:.0f} s extrapolated to "
        f"{slow['rows']} flights, peak RSS {slow['peak_mib']:.0f} MiB"
    )
    print(
        f"ratio: ours is {slow['seconds'] / fast['seconds']:.0f}x faster than the naive loop "
        "(same run, same machine)"
    )


if __name__ == "__main__":
    main()
