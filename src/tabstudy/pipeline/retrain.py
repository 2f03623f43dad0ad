"""The retraining entry point a scheduler calls: ``tabstudy retrain --month
2013-12 [--policy sliding|expanding] [--run]`` (``make retrain MONTH=... POLICY=...``).

It moves the training window with the same function the retraining backtest uses
(:func:`tabstudy.backtest.retraining.retrain_split`): the model for ``month`` trains on the
window the policy names, validates (early stopping, threshold) on the month before, and is
tested on ``month``. No new orchestrator: it prints, and with ``--run`` runs, one
``dvc exp run`` with the three ``features.split`` dates set, so the experiment is an ordinary DVC
experiment (``dvc exp show``, ``dvc exp apply``, then the champion gate and ``make promote``
decide whether it replaces the champion). Errors print one line and exit 2.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import date

import pandas as pd

from tabstudy import paths
from tabstudy.backtest import retraining
from tabstudy.pipeline.serve import load_config
from tabstudy.spec import load_spec

POLICIES = ("sliding", "expanding")


def month_start(text: str) -> date:
    """``YYYY-MM`` (or a date) as the first day of its month; :class:`ValueError` otherwise."""
    try:
        day = date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise ValueError(f"--month {text!r} is not a month (YYYY-MM)") from None
    return day.replace(day=1)


def first_day() -> date:
    """The first day of the labelled rows (the expanding window's start)."""
    spec = load_spec()
    if spec.time_column is None:
        raise ValueError("the study's rows have no time column: there is no window to move")
    column = pd.read_parquet(paths.processed("train"), columns=[spec.time_column])
    return pd.Timestamp(column[spec.time_column].min()).date()


def command(month: date, policy: str) -> list[str]:
    """The ``dvc exp run`` that retrains for ``month`` under ``policy``."""
    cfg = load_config("backtest")
    assert cfg.backtest is not None
    split = retraining.retrain_split(policy, month, first_day(), cfg.backtest.train_months)
    sets = [f"features.split.{k}={v}" for k, v in split.items()]
    name = f"retrain-{policy}-{month:%Y-%m}"
    return ["dvc", "exp", "run", "-n", name, *(a for s in sets for a in ("-S", s))]


def main(month: str, policy: str = "sliding", run: bool = False) -> int:
    """``tabstudy retrain``: print (and with ``run`` run) the retraining experiment (see the
    module docstring). Returns the exit status (2: a bad month or policy, named)."""
    try:
        if policy not in POLICIES:
            raise ValueError(f"--policy {policy!r}: expected one of {', '.join(POLICIES)}")
        cmd = command(month_start(month), policy)
    except ValueError as err:
        print(f"retrain: {err}", file=sys.stderr)
        return 2
    print(shlex.join(cmd))
    if not run:
        return 0
    return subprocess.run(cmd, cwd=paths.root(), check=False).returncode
