"""Search spaces and budgets sized to the data: the flights values stay, small tables get grids
that fit, and edges and caps are reported."""

from __future__ import annotations

import pytest

from tabstudy import config
from tabstudy.models import sizing

FLIGHTS_TRAIN_ROWS = 217_727


@pytest.fixture
def resolved(workdir) -> dict:
    return config.resolve(config.load_params())


def test_flights_values_are_kept(resolved) -> None:
    cfg = config.stage_config("full", 1, baselines=resolved["baselines"], tune=resolved["tune"],
                              train=resolved["train"])  # fmt: skip
    assert sizing.sized_baselines(cfg.baselines, FLIGHTS_TRAIN_ROWS) == (cfg.baselines, [])
    assert sizing.sized_tune(cfg.tune, FLIGHTS_TRAIN_ROWS) == (cfg.tune, [])
    assert sizing.sized_train(cfg.train, FLIGHTS_TRAIN_ROWS, 1024) == (cfg.train, [])


def test_a_small_table_gets_a_grid_batches_and_epochs_that_fit(resolved) -> None:
    cfg = config.stage_config("full", 1, baselines=resolved["baselines"], tune=resolved["tune"],
                              train=resolved["train"])  # fmt: skip
    grid, notes = sizing.sized_baselines(cfg.baselines, 3000)
    assert grid.hgb_min_samples_leaf == [6, 30, 150] and "6400" in notes[0]
    assert grid.lgbm_min_child_samples == 30 and grid.lgbm_num_leaves == 31
    assert "baselines.lgbm_min_child_samples 400 needs more than 10%" in notes[1]
    space, notes = sizing.sized_tune(cfg.tune, 3000)
    assert space.batch_size == [128]  # 1024 and 4096 leave fewer than 20 steps an epoch
    assert space.epochs == 21 and len(notes) == 2  # 500 steps at 24 steps an epoch
    budget, notes = sizing.sized_train(cfg.train, 3000, 128)
    assert budget.epochs == 84 and "train.min_steps 2000" in notes[0]
    assert sizing.sized_train(cfg.train, 3000, 128)[0].patience == cfg.train.patience


def test_lightgbm_leaves_fit_a_tiny_table(resolved) -> None:
    cfg = config.stage_config("full", 1, baselines=resolved["baselines"]).baselines
    grid, notes = sizing.sized_lgbm(cfg.model_copy(update={"lgbm_min_child_samples": 20}), 400)
    assert (grid.lgbm_min_child_samples, grid.lgbm_num_leaves) == (20, 20)
    assert notes == ["baselines.lgbm_num_leaves 31 leaves of 20 rows need more than the 400 "
                     "training rows; used 20"]  # fmt: skip


def test_backtest_folds_of_a_small_table_train_enough_steps(resolved) -> None:
    cfg = config.stage_config("full", 1, backtest=resolved["backtest"]).backtest
    assert sizing.sized_backtest(cfg, FLIGHTS_TRAIN_ROWS, 4096) == (cfg, [])
    budget, notes = sizing.sized_backtest(cfg, 3000, 128)
    assert budget.keras_epochs == 5  # 100 steps at 24 steps an epoch
    assert notes[0].startswith("backtest.keras_epochs 2 allows fewer than")
    with pytest.warns(sizing.SizingWarning, match="backtest.keras_epochs"):
        sizing.warn(notes)


def test_a_random_only_search_is_called_so(resolved) -> None:
    tune = config.stage_config("full", 1, tune={**resolved["tune"], "initial_points": 8}).tune
    _, notes = sizing.sized_tune(tune, FLIGHTS_TRAIN_ROWS)
    assert notes == [
        "tune.initial_points 8 >= tune.max_trials 6: every trial is a random draw, none is "
        "chosen by the Bayesian model"
    ]


def test_edges_and_caps_are_reported() -> None:
    grid = {"units": [64, 128, 256], "layers": [1, 2, 3], "batch_size": [1024]}
    notes = sizing.edge_notes({"units": 64, "layers": 2, "batch_size": 1024}, grid, "tune")
    assert notes == [
        "the best units=64 is the smallest value of tune.units [64, 128, 256]: the optimum may "
        "lie beyond it; consider widening that side"
    ]
    assert sizing.edge_notes({"l2": 0.0}, {"l2": [0.0, 1.0]}, "baselines") == []  # nothing below 0
    assert sizing.last_epoch_note(30, 30, 30) and not sizing.last_epoch_note(12, 9, 30)
    with pytest.warns(sizing.SizingWarning, match="units=64"):
        sizing.warn(notes)


def test_the_smoke_profile_opts_out_of_minimum_steps(workdir) -> None:
    params = config.load_params()
    params["profile"] = "smoke"
    smoke = config.resolve(params)
    cfg = config.stage_config("smoke", 1, tune=smoke["tune"], train=smoke["train"])
    assert sizing.sized_tune(cfg.tune, 6000)[0].epochs == cfg.tune.epochs
    assert sizing.sized_train(cfg.train, 6000, 256)[0].epochs == cfg.train.epochs
