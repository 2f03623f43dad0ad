"""The kernels the offline build and the online store share take a short path for a few
queries (a service's single rows, :data:`history.FEW`): it gives the values of their batch
path, bit for bit, on awkward queries (unknown keys, ``None``, NaN, empty groups)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy.studies.flights import features, history, legs, online

SEEDS = range(8)


@pytest.fixture
def batch_path(monkeypatch):
    """Call a kernel with the short path switched off (every query count is "many")."""

    def call(fn, *args):
        with monkeypatch.context() as m:
            m.setattr(history, "FEW", -1)
            m.setattr(online, "FEW", -1)
            return fn(*args)

    return call


def _same(short, batch) -> None:
    if isinstance(short, dict):
        assert short.keys() == batch.keys()
        for k in short:
            _same(short[k], batch[k])
    elif isinstance(short, tuple | list):
        assert len(short) == len(batch)
        for a, b in zip(short, batch, strict=True):
            _same(a, b)
    else:
        np.testing.assert_array_equal(short, batch)
        assert np.asarray(short).dtype == np.asarray(batch).dtype


@pytest.mark.parametrize("seed", SEEDS)
def test_history_counts(seed, batch_path) -> None:
    rng = np.random.default_rng(seed)
    n = 500
    events = history.Events(
        rng.integers(0, 5, n), rng.integers(0, 100, n) * 100, rng.integers(0, 2, n)
    )
    index = history.EventIndex.build(events)
    size = int(rng.integers(1, history.FEW + 1))
    codes = rng.choice([-1, 0, 1, 2, 3, 4, 9], size)  # -1: no group; 9: a group without events
    times = rng.integers(-1, 111, size) * 100  # on event times and between them
    for window in (100, 550, 20_000):
        _same(index.counts(codes, times, window), batch_path(index.counts, codes, times, window))


@pytest.mark.parametrize("seed", SEEDS)
def test_previous_leg(seed, batch_path) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    tails = np.array([f"N{i}" for i in range(20)], dtype=object)
    sched = rng.integers(0, 400_000, n)
    table = pd.DataFrame(
        {
            "tailnum": rng.choice(tails, n),
            "sched_dep_utc": sched,
            "dep_at": sched + rng.choice([np.nan, 600.0, 3600.0], n),
            "arr_known_at": sched + rng.choice([np.nan, 9000.0], n),
            "dep_delay": rng.normal(size=n),
            "arr_delay": rng.normal(size=n),
        }
    )
    index = legs.LegIndex.build(table)
    size = int(rng.integers(1, history.FEW + 1))
    pool = np.array([*tails[:5], None, np.nan, "", "N999", 7], dtype=object)
    q_tails = rng.choice(pool, size)
    q_sched = rng.integers(0, 420_000, size)
    q_pred = q_sched - rng.choice([0, 3600, 7200], size)
    _same(
        index.lookup(q_tails, q_sched, q_pred),
        batch_path(index.lookup, q_tails, q_sched, q_pred),
    )
    _same(index.lookup(list(q_tails), q_sched, q_pred), index.lookup(q_tails, q_sched, q_pred))


@pytest.mark.parametrize("seed", SEEDS)
def test_weather_asof(seed, batch_path) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for origin in ("EWR", "JFK", "LGA"):
        times = np.unique(rng.integers(0, 200_000, 60)) * 60
        for t in times:
            rows.append({"origin": origin, "wx_time": int(t),
                         **{f"wx_{f}": rng.normal() for f in features.WEATHER_FIELDS}})  # fmt: skip
    index = features.WeatherIndex.build(pd.DataFrame(rows))
    size = int(rng.integers(1, history.FEW + 1))
    origins = rng.choice(np.array(["EWR", "JFK", "LGA", "SFO", None, np.nan], dtype=object), size)
    times = rng.integers(-50_000, 13_000_000, size)
    _same(index.asof(origins, times), batch_path(index.asof, origins, times))


@pytest.mark.parametrize("seed", SEEDS)
def test_key_groups(seed, batch_path) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, history.FEW + 1))
    pool = np.array(["EWR", "JFK", "", None, np.nan, "E|W"], dtype=object)
    days = np.array(["2013-12-23", "2014-01-01", "NaT"], dtype="datetime64[D]")
    columns = [
        rng.choice(pool, size),
        rng.choice(pool[:3], size),
        rng.choice(days, size),
        rng.integers(0, 3, size),
    ]  # fmt: skip  (the departures lookup's column types)
    short, batch = online._groups(columns), batch_path(online._groups, columns)
    _same(dict(short), dict(batch))  # the same groups, each in ascending row order
    assert len(short) == len(batch)
    table = {k: i for i, (k, _) in enumerate(short)}
    _same(online._lookup(columns, table, -1), batch_path(online._lookup, columns, table, -1))
