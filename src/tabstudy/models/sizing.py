"""Search spaces and training budgets sized to the data, and warnings when a search ends on the
edge of its grid or training ends on its epoch cap.

params.yaml's values suit the flights study (217,727 training rows). On a small table they waste
the search: a tree whose leaves need 6,400 rows cannot split 3,000, a batch of 4,096 is one step
an epoch, and 30 epochs of 3 steps is no training. The rules below adjust only what cannot fit
the data, say what they changed (:class:`SizingWarning`, shown on the console and in the report)
and leave the flights study's values as they are.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from tabstudy.config import BacktestConfig, BaselinesConfig, TrainConfig, TuneConfig

MAX_LEAF_SHARE = 0.1  # a leaf may need at most this share of the training rows ...
LEAF_LADDER = (0.002, 0.01, 0.05)  # ... else the grid becomes these shares of them
MIN_STEPS_PER_EPOCH = 20  # a batch size leaves at least this many steps an epoch
MAX_EPOCHS = 500


class SizingWarning(UserWarning):
    """A parameter was sized to the data, or a search/training ended on the edge of its range."""


def leaf_sizes(values: Sequence[int], n_train: int) -> list[int]:
    """``values`` if every one fits ``n_train`` rows (at most :data:`MAX_LEAF_SHARE` of them),
    else the :data:`LEAF_LADDER` shares of ``n_train``."""
    if all(v <= MAX_LEAF_SHARE * n_train for v in values):
        return list(values)
    return sorted({max(1, round(share * n_train)) for share in LEAF_LADDER})


def batch_sizes(values: Sequence[int], n_train: int) -> list[int]:
    """The batch sizes that leave at least :data:`MIN_STEPS_PER_EPOCH` steps an epoch; if none
    does, the largest power of two that does (at least 8)."""
    fit = [b for b in values if n_train / b >= MIN_STEPS_PER_EPOCH]
    if fit:
        return fit
    return [max(8, 2 ** int(math.log2(max(1, n_train // MIN_STEPS_PER_EPOCH))))]


def epochs_for(epochs: int, n_train: int, batch_size: int, min_steps: int) -> int:
    """An epoch cap that allows at least ``min_steps`` gradient steps (never below ``epochs``,
    at most :data:`MAX_EPOCHS`); early stopping still ends training when it stops improving."""
    steps = math.ceil(n_train / batch_size)
    return max(epochs, min(MAX_EPOCHS, math.ceil(min_steps / steps)))


def sized_baselines(cfg: BaselinesConfig, n_train: int) -> tuple[BaselinesConfig, list[str]]:
    """The tree grid with leaf sizes that fit the data, LightGBM's leaf size and leaf count
    likewise (:func:`sized_lgbm`), and what changed."""
    lgbm, notes = sized_lgbm(cfg, n_train)
    leaves = leaf_sizes(cfg.hgb_min_samples_leaf, n_train)
    if leaves == list(cfg.hgb_min_samples_leaf):
        return lgbm, notes
    note = (
        f"baselines.hgb_min_samples_leaf {list(cfg.hgb_min_samples_leaf)} needs more than "
        f"{MAX_LEAF_SHARE:.0%} of the {n_train:,} training rows per leaf; searched {leaves} "
        f"({', '.join(f'{s:.1%}' for s in LEAF_LADDER)} of them) instead"
    )
    return lgbm.model_copy(update={"hgb_min_samples_leaf": leaves}), [note, *notes]


def sized_lgbm(cfg: BaselinesConfig, n_train: int) -> tuple[BaselinesConfig, list[str]]:
    """LightGBM's ``min_child_samples`` at most :data:`MAX_LEAF_SHARE` of the training rows
    (else the middle :data:`LEAF_LADDER` share of them), and ``num_leaves`` no more than the
    rows can fill at that leaf size; notes saying what changed."""
    notes = []
    child = cfg.lgbm_min_child_samples
    if child > MAX_LEAF_SHARE * n_train:
        child = max(1, round(LEAF_LADDER[1] * n_train))
        notes.append(
            f"baselines.lgbm_min_child_samples {cfg.lgbm_min_child_samples} needs more than "
            f"{MAX_LEAF_SHARE:.0%} of the {n_train:,} training rows per leaf; used {child} "
            f"({LEAF_LADDER[1]:.0%} of them) instead"
        )
    leaves = min(cfg.lgbm_num_leaves, max(2, n_train // child))
    if leaves != cfg.lgbm_num_leaves:
        notes.append(
            f"baselines.lgbm_num_leaves {cfg.lgbm_num_leaves} leaves of {child} rows need more "
            f"than the {n_train:,} training rows; used {leaves}"
        )
    return cfg.model_copy(
        update={"lgbm_min_child_samples": child, "lgbm_num_leaves": leaves}
    ), notes


def sized_tune(cfg: TuneConfig, n_train: int) -> tuple[TuneConfig, list[str]]:
    """The tuning space with batch sizes and an epoch count that fit the data, and notes."""
    notes = []
    sizes = batch_sizes(cfg.batch_size, n_train)
    if sizes != list(cfg.batch_size):
        notes.append(
            f"tune.batch_size {list(cfg.batch_size)} leaves fewer than {MIN_STEPS_PER_EPOCH} "
            f"steps an epoch on {n_train:,} rows; searched {sizes}"
        )
    epochs = epochs_for(cfg.epochs, n_train, min(sizes), cfg.min_steps)
    if epochs != cfg.epochs:
        notes.append(
            f"tune.epochs {cfg.epochs} is fewer than tune.min_steps {cfg.min_steps} steps per "
            f"trial at batch size {min(sizes)}; each trial runs up to {epochs} epochs"
        )
    if cfg.initial_points >= cfg.max_trials:
        notes.append(
            f"tune.initial_points {cfg.initial_points} >= tune.max_trials {cfg.max_trials}: "
            "every trial is a random draw, none is chosen by the Bayesian model"
        )
    return cfg.model_copy(update={"batch_size": sizes, "epochs": epochs}), notes


def sized_train(cfg: TrainConfig, n_train: int, batch_size: int) -> tuple[TrainConfig, list[str]]:
    """The epoch cap of the final training sized to the data, and what changed."""
    epochs = epochs_for(cfg.epochs, n_train, batch_size, cfg.min_steps)
    if epochs == cfg.epochs:
        return cfg, []
    short = _too_few_steps("train.epochs", cfg.epochs, "train.min_steps", cfg.min_steps,
                           batch_size, n_train)  # fmt: skip
    note = f"{short}; the cap is {epochs} (early stopping still applies)"
    return cfg.model_copy(update={"epochs": epochs}), [note]


def sized_backtest(
    cfg: BacktestConfig, n_train: int, batch_size: int
) -> tuple[BacktestConfig, list[str]]:
    """The Keras folds' epoch count raised to allow ``backtest.keras_min_steps`` steps on
    ``n_train`` rows at ``batch_size``, and what changed."""
    epochs = epochs_for(cfg.keras_epochs, n_train, batch_size, cfg.keras_min_steps)
    if epochs == cfg.keras_epochs:
        return cfg, []
    short = _too_few_steps("backtest.keras_epochs", cfg.keras_epochs, "backtest.keras_min_steps",
                           cfg.keras_min_steps, batch_size, n_train)  # fmt: skip
    note = f"{short}; each Keras fold trains {epochs} epochs"
    return cfg.model_copy(update={"keras_epochs": epochs}), [note]


def _too_few_steps(
    epochs_key: str, epochs: int, steps_key: str, min_steps: int, batch_size: int, n_train: int
) -> str:
    """``"<epochs_key> N allows fewer than <steps_key> M steps at batch size B on R rows"``."""
    return (
        f"{epochs_key} {epochs} allows fewer than {steps_key} {min_steps} steps at batch size "
        f"{batch_size} on {n_train:,} rows"
    )


def edge_notes(best: Mapping[str, Any], grid: Mapping[str, Sequence[Any]], where: str) -> list[str]:
    """A note for every hyperparameter whose best value is the smallest or largest of two or
    more values tried: the optimum may lie outside the grid."""
    notes = []
    for name, values in grid.items():
        tried = sorted(set(values))
        if len(tried) < 2 or name not in best:
            continue
        value = best[name]
        if value == tried[0] == 0:
            continue  # nothing lies below zero (no regularisation, no dropout)
        if value in (tried[0], tried[-1]):
            side = "smallest" if value == tried[0] else "largest"
            notes.append(
                f"the best {name}={value} is the {side} value of {where}.{name} {tried}: the "
                "optimum may lie beyond it; consider widening that side"
            )
    return notes


def last_epoch_note(epochs_run: int, best_epoch: int, cap: int) -> list[str]:
    """A note when training ran to its cap with the best validation loss on the last epoch."""
    if epochs_run >= cap and best_epoch == epochs_run:
        return [
            f"training ran to its cap of {cap} epochs and the validation loss was still "
            "falling (best epoch = the last): raise train.epochs"
        ]
    return []


def warn(notes: Sequence[str]) -> list[str]:
    """Emit each note as a :class:`SizingWarning` (the pipeline prints them on the console);
    return them for the report."""
    for note in notes:
        warnings.warn(note, SizingWarning, stacklevel=2)
    return list(notes)
