"""Rolling-origin folds: test windows that tile a period, each with the training window before
its origin, and the check that no test window overlaps what the tuners saw.

A fold trains on ``train_start <= date < origin`` and tests on ``origin <= date < test_end``, so
no training row (and no label) is from on or after the cut-off.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd

FoldLength = Literal["month", "half_month", "week"]
TrainWindow = Literal["expanding", "sliding"]
HALF_MONTH_DAY = 15
"""A half-month fold runs from the 1st to the 14th, or from the 15th to the month's end."""


@dataclass(frozen=True)
class Fold:
    """One origin: train on ``[train_start, origin)``, test on ``[origin, test_end)``."""

    name: str
    train_start: date
    origin: date
    test_end: date


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months (the day clipped to the month's length)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def next_boundary(day: date, fold: FoldLength, first_test: date) -> date:
    """The first fold boundary after ``day``: the next 1st of a month (``month``), the next 1st
    or 15th (``half_month``) or ``first_test`` plus a multiple of 7 days (``week``)."""
    if fold == "month":
        return add_months(month_start(day), 1)
    if fold == "half_month":
        if day.day < HALF_MONTH_DAY:
            return day.replace(day=HALF_MONTH_DAY)
        return add_months(month_start(day), 1)
    if fold == "week":
        return day + timedelta(days=7 - (day - first_test).days % 7)
    raise ValueError(f"fold must be month, half_month or week, not {fold!r}")


def _day(value: object) -> date:
    return pd.Timestamp(value).date()


def rolling_folds(
    dates: pd.Series,
    first_test: date,
    fold: FoldLength,
    train_window: TrainWindow,
    train_months: int,
) -> list[Fold]:
    """Test folds tiling ``[first_test, last date]`` without gaps or overlaps, oldest first.

    Args:
        dates: every row's date (or time); its first and last day bound the folds.
        first_test: the first day of the first test fold (after the first date).
        fold: ``month`` (calendar months), ``half_month`` (1st-14th, 15th-end) or ``week`` (7-day
            blocks from ``first_test``); the first and last folds may be partial.
        train_window: ``expanding`` (train from the first date) or ``sliding`` (from
            ``train_months`` calendar months before the origin, not before the first date).
        train_months: the length of a sliding training window.

    Raises:
        ValueError: ``first_test`` leaves no training rows or no test rows, or a bad option.
    """
    first, last = _day(dates.min()), _day(dates.max())
    if not first < first_test <= last:
        raise ValueError(
            f"first_test {first_test} must be after the first date {first} and on or before "
            f"the last date {last}"
        )
    if train_window not in ("expanding", "sliding"):
        raise ValueError(f"train_window must be expanding or sliding, not {train_window!r}")
    folds, origin, end = [], first_test, last + timedelta(days=1)
    while origin < end:
        test_end = min(next_boundary(origin, fold, first_test), end)
        start = first
        if train_window == "sliding":
            start = max(first, add_months(origin, -train_months))
        name = origin.strftime("%Y-%m") if fold == "month" else origin.isoformat()
        folds.append(Fold(name, start, origin, test_end))
        origin = test_end
    return folds


def check_isolated(folds: list[Fold], tuner_last_day: date) -> None:
    """Refuse folds whose test rows start on or before ``tuner_last_day``, the last day the
    tuners (keras-tuner, the tree's grid, LightGBM's early stopping) saw: their scores would
    be optimistic. The caller passes ``features.split.test_start`` minus one day.

    Raises:
        ValueError: naming the first such fold, its test dates and the tuners' last day.
    """
    for f in folds:
        if f.origin <= tuner_last_day:
            raise ValueError(
                f"fold {f.name} tests {f.origin}..{f.test_end - timedelta(days=1)}, which starts "
                f"on or before {tuner_last_day}, the last day the tuners saw; set "
                f"backtest.first_test after {tuner_last_day}"
            )


def in_window(times: pd.Series, start: date, end: date) -> pd.Series:
    """Which ``times`` fall on ``start <= t < end`` (days; time-zone aware columns too)."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    tz = getattr(times.dt, "tz", None)
    if tz is not None:
        lo, hi = lo.tz_localize(tz), hi.tz_localize(tz)
    return (times >= lo) & (times < hi)


def fold_rows(frame: pd.DataFrame, time_col: str, fold: Fold) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fold's training rows (``train_start <= t < origin``) and test rows (``origin <= t <
    test_end``), each re-indexed from 0 in the frame's order."""
    t = frame[time_col]
    train = frame[in_window(t, fold.train_start, fold.origin)].reset_index(drop=True)
    test = frame[in_window(t, fold.origin, fold.test_end)].reset_index(drop=True)
    return train, test
