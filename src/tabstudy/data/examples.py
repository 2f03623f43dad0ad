"""Example tables for the bring-your-own-data path, written from data that packages ship.

``tabstudy example-data breast_cancer external/breast_cancer.csv`` writes
scikit-learn's copy of the Wisconsin diagnostic breast cancer data (569 rows, 30 numeric
measurements) as a plain CSV: column names in snake_case and the target as a ``diagnosis``
column holding ``malignant`` or ``benign``. Nothing is downloaded.

Four more are generated (seeded) to try the path on the awkward tables a new user brings, each
with a known trap:

* ``customers``: 3,000 rows, a yes/no ``churned`` target and no time column;
* ``credit``: 4,000 applications with a time column ``applied_at``, missing values over the
  contract's limit, and the table's own ``weekday``, ``month`` and ``hour`` columns (the names
  EDA gives its time-derived columns);
* ``sensors``: 3,000 hourly counts where ``registered`` is most of the outcome ``load`` (label
  leakage: the features stage stops on it);
* ``rare_events``: 8,000 machine readings with 5% positive ``failure`` rows and a time column
  (about 60 positives in the test split).

Write CSV or Parquet by the output's suffix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tabstudy import artifacts
from tabstudy.spec import safe_name


def snake_case(name: str) -> str:
    """``'mean radius'`` -> ``'mean_radius'`` (the input names the pipeline would give it)."""
    return safe_name(name).lower()


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's breast cancer data with a readable ``diagnosis`` target column."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=snake_case)
    names = dict(enumerate(bunch.target_names))
    frame["diagnosis"] = bunch.target.map(names).astype(str)
    return frame


def customers(n: int = 3000) -> pd.DataFrame:
    """Churn of customers: ``churned`` yes/no from spend and plan; no time column."""
    rng = np.random.default_rng(1)
    spend = rng.gamma(2.0, 30.0, n)
    plan = rng.choice(["basic", "pro", "team"], n)
    logit = -1.0 + 0.02 * (spend - 60) + np.where(plan == "basic", 0.8, -0.4)
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {"spend": spend, "plan": plan, "tenure": rng.integers(1, 60, n), "churned": churned}
    )


def credit(n: int = 4000) -> pd.DataFrame:
    """Credit applications (``status`` bad/good) every 3 hours from 2021, 8.6% of ``income``
    missing, and the table's own ``weekday``/``month``/``hour`` columns, unrelated to
    ``applied_at``."""
    rng = np.random.default_rng(2)
    income = rng.lognormal(10, 0.5, n)
    frame = pd.DataFrame(
        {
            "applied_at": pd.date_range("2021-01-01", periods=n, freq="3h"),
            "income": income,
            "region": rng.choice(["north", "south", "east"], n).astype(object),
            "age": rng.integers(18, 80, n),
        }
    )
    risk = -0.5 - 0.8 * (np.log(income) - 10) + (frame["age"] < 25) * 0.7
    frame["status"] = np.where(rng.random(n) < 1 / (1 + np.exp(-risk)), "bad", "good")
    frame.loc[rng.random(n) < 0.086, "income"] = np.nan  # above the contract's 5% limit
    frame.loc[rng.random(n) < 0.02, "region"] = None
    frame["weekday"] = rng.integers(1, 8, n).astype(float)
    frame["month"] = rng.integers(0, 3, n)
    frame["hour"] = rng.normal(12, 3, n)
    return frame


def sensors(n: int = 3000) -> pd.DataFrame:
    """Hourly counts where two columns make up the outcome (rentals = casual + registered, and
    ``load`` is busy when rentals exceed their 60th percentile): the leakage a careless user
    brings. ``registered`` alone nearly decides the label; ``casual`` alone hardly does."""
    rng = np.random.default_rng(4)
    hour = np.arange(n) % 24
    temp = rng.normal(15, 8, n)
    casual = rng.poisson(np.exp(0.2 + 0.03 * temp))
    registered = rng.poisson(np.exp(3.0 + 0.9 * np.sin(hour / 24 * 2 * np.pi)))
    total = casual + registered
    busy = np.where(total > np.quantile(total, 0.6), "busy", "calm")
    return pd.DataFrame(
        {
            "temp": temp,
            "weekday_name": rng.choice(["mon", "tue", "sat"], n),
            "casual": casual,
            "registered": registered,
            "load": busy,
        }
    )


def rare_events(n: int = 8000, share: float = 0.05) -> pd.DataFrame:
    """Hourly machine readings where ``failure`` is ``1`` on about ``share`` of the rows
    (vibration and temperature raise the odds, one site more than the others)."""
    rng = np.random.default_rng(5)
    vibration = rng.gamma(2.0, 1.0, n)
    temperature = rng.normal(60, 8, n)
    site = rng.choice(["a", "b", "c", "d"], n)
    logit = 0.9 * (vibration - 2) + 0.06 * (temperature - 60) + np.where(site == "d", 0.7, 0.0)
    score = logit + rng.logistic(size=n)
    cut = np.quantile(score, 1 - share)
    return pd.DataFrame(
        {
            "read_at": pd.date_range("2022-03-01", periods=n, freq="h"),
            "vibration": vibration,
            "temperature": temperature,
            "site": site,
            "failure": (score > cut).astype(int),
        }
    )


EXAMPLES: dict[str, Callable[[], pd.DataFrame]] = {
    "breast_cancer": breast_cancer,
    "customers": customers,
    "credit": credit,
    "sensors": sensors,
    "rare_events": rare_events,
}


def main(name: str, output: Path) -> int:
    """``tabstudy example-data NAME OUTPUT``: write an example table (CSV, or Parquet for a
    ``.parquet`` name). Returns the exit status (2: an unknown name)."""
    if name not in EXAMPLES:
        print(f"error: unknown example {name!r}; known: {', '.join(sorted(EXAMPLES))}",
              file=sys.stderr)  # fmt: skip
        return 2
    frame = EXAMPLES[name]()
    if output.suffix == ".parquet":
        artifacts.write_parquet(frame, output)
    else:
        artifacts.write_csv(frame, output)
    print(f"wrote {output}: {len(frame)} rows, {frame.shape[1]} columns")
    return 0
