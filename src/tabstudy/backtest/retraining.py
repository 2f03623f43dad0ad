"""A backtest of retraining policies: month by month, each policy decides whether to retrain
before scoring the month, and pays for the fits it makes.

Policies: ``never`` (the initial model throughout), ``sliding`` (every month, on the last
``train_months`` months), ``expanding`` (every month, on everything so far) and ``on_alert``
(on everything so far, only when an alert fires on the month just scored). Fits are cached by
training window, so a window two policies share is fitted once; each policy is still charged the
fit's seconds, the cost it would pay on its own.

:func:`policy_window` is also what a ``retrain`` entry point uses to move the split dates
(:func:`retrain_split`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from tabstudy import monitoring
from tabstudy.backtest.candidates import Candidate
from tabstudy.backtest.folds import add_months, in_window, month_start
from tabstudy.spec import LABEL, FeatureSet

Policy = Literal["never", "sliding", "expanding", "on_alert"]
POLICIES: tuple[str, ...] = ("never", "sliding", "expanding", "on_alert")
Alert = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray], bool]
"""``alert(reference_rows, reference_scores, last_month_rows, last_month_scores)``: retrain?"""
Window = tuple[date, date]


def policy_window(
    policy: str, month_start: date, first_day: date, train_months: int, initial_end: date
) -> Window:
    """The training window ``(train_start, train_end)`` (end exclusive) a policy uses for a model
    that scores from ``month_start``: ``never`` always ``(first_day, initial_end)``; ``sliding``
    the ``train_months`` calendar months before ``month_start`` (not before ``first_day``);
    ``expanding`` and ``on_alert`` (when it retrains) ``(first_day, month_start)``."""
    if policy == "never":
        return first_day, initial_end
    if policy == "sliding":
        return max(first_day, add_months(month_start, -train_months)), month_start
    if policy in ("expanding", "on_alert"):
        return first_day, month_start
    raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")


def retrain_split(
    policy: str, month_start: date, first_day: date, train_months: int, valid_months: int = 1
) -> dict[str, str]:
    """``features.split`` dates (ISO) for retraining under ``policy`` to score from
    ``month_start``: the policy's window, of which the last ``valid_months`` months become the
    validation window; the test window starts at ``month_start``.

    Raises:
        ValueError: ``never`` (it does not retrain) or a window too short to leave training rows.
    """
    if policy == "never":
        raise ValueError("policy never keeps the initial model: there is nothing to retrain")
    train_start, _ = policy_window(policy, month_start, first_day, train_months, month_start)
    valid_start = add_months(month_start, -valid_months)
    if not train_start < valid_start:
        raise ValueError(
            f"{policy} window from {train_start} leaves no training rows before the "
            f"{valid_months}-month validation window from {valid_start}"
        )
    return {
        "train_start": train_start.isoformat(),
        "valid_start": valid_start.isoformat(),
        "test_start": month_start.isoformat(),
    }


def score_shift_alert(max_psi: float, bins: int = 10) -> Alert:
    """An alert on the model's own scores: the PSI of last month's scores against the scores of
    its training rows (quantile bins of the reference) exceeds ``max_psi``."""

    def alert(ref: pd.DataFrame, ref_p: np.ndarray, cur: pd.DataFrame, cur_p: np.ndarray) -> bool:
        return monitoring.drift.numeric_psi(pd.Series(ref_p), pd.Series(cur_p), bins) > max_psi

    return alert


@dataclass(frozen=True)
class _Fit:
    """One fitted window: its cost, its training rows and its scores of later rows."""

    seconds: float
    train_rows: int
    scores: np.ndarray  # one per frame row; NaN where not scored


@dataclass
class _Fitter:
    """Fits the candidate once per training window and keeps the scores (the cache)."""

    frame: pd.DataFrame
    times: pd.Series
    spec: FeatureSet
    candidate: Candidate
    seed: int
    score_training_rows: bool
    stop: date
    cache: dict[Window, _Fit]

    def get(self, window: Window) -> _Fit:
        """The fit of ``window``, fitted now if no policy asked for it before."""
        if window not in self.cache:
            start, end = window
            train = self.frame[in_window(self.times, start, end).to_numpy()]
            first = start if self.score_training_rows else end
            later = in_window(self.times, first, self.stop).to_numpy()
            began = time.perf_counter()
            p = self.candidate.fit_predict(train, self.frame[later], self.spec, self.seed)
            scores = np.full(len(self.frame), np.nan)
            scores[later] = p
            self.cache[window] = _Fit(time.perf_counter() - began, len(train), scores)
        return self.cache[window]


def _month_starts(times: pd.Series) -> list[date]:
    """The first day of every calendar month from the first row's to the last row's."""
    first, last = month_start(pd.Timestamp(times.min()).date()), pd.Timestamp(times.max()).date()
    months = [first]
    while add_months(months[-1], 1) <= last:
        months.append(add_months(months[-1], 1))
    return months


@dataclass(frozen=True)
class _Schedule:
    """What :func:`policy_window` needs besides the policy and the month."""

    first_day: date
    train_months: int
    initial_end: date

    def window(self, policy: str, month: date) -> Window:
        return policy_window(policy, month, self.first_day, self.train_months, self.initial_end)


def _next_window(
    policy: str, window: Window, month: date, alert_fired: Callable[[], bool], plan: _Schedule
) -> Window:
    """The window ``policy`` scores ``month`` with after the first scored month, given the
    current one (``alert_fired`` is asked only by ``on_alert``)."""
    if policy == "never" or (policy == "on_alert" and not alert_fired()):
        return window
    return plan.window(policy, month)


def _alerted(alert: Alert, fitter: _Fitter, window: Window, last: Window) -> bool:
    """The alert on the current model: its training rows and scores against last month's."""
    fit = fitter.get(window)
    ref = in_window(fitter.times, *window).to_numpy()
    cur = in_window(fitter.times, *last).to_numpy()
    return bool(alert(fitter.frame[ref], fit.scores[ref], fitter.frame[cur], fit.scores[cur]))


def _month_row(
    policy: str, month: date, window: Window, fit: _Fit, retrained: bool, y: np.ndarray,
    p: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """One scored month of one policy (see :func:`backtest` for the columns)."""
    two_classes = len(y) > 0 and y.min() != y.max()
    return {
        "policy": policy, "month": month.strftime("%Y-%m"), "retrained": retrained,
        "model_trained_on": f"{window[0]}..{window[1] - timedelta(days=1)}",
        "train_start": window[0], "train_end": window[1], "train_rows": fit.train_rows,
        "fit_seconds": fit.seconds if retrained else 0.0, "rows": len(y),
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
    }  # fmt: skip


def _run_policy(
    policy: str, fitter: _Fitter, scored: list[date], alert: Alert | None, plan: _Schedule
) -> list[dict[str, Any]]:
    """The scored months of one policy, oldest first."""
    y = fitter.frame[LABEL].to_numpy()
    window = plan.window("never", scored[0])
    rows = []
    for i, month in enumerate(scored):
        retrained = i == 0
        if i > 0:
            fired = partial(_alerted, alert, fitter, window, (scored[i - 1], month))
            new = _next_window(policy, window, month, fired, plan)
            retrained, window = new != window, new
        fit = fitter.get(window)
        now = in_window(fitter.times, month, add_months(month, 1)).to_numpy()
        rows.append(_month_row(policy, month, window, fit, retrained, y[now], fit.scores[now]))
    return rows


def backtest(
    frame: pd.DataFrame,
    spec: FeatureSet,
    time_col: str,
    candidate: Candidate,
    policies: Sequence[str],
    initial_months: int,
    train_months: int,
    seed: int,
    alert: Alert | None = None,
) -> pd.DataFrame:
    """Score every month after the first ``initial_months`` under each retraining policy.

    Before month ``m`` each policy picks its model: the first scored month uses the initial model
    (trained on the first ``initial_months`` months) under every policy; after that ``never``
    keeps it, ``sliding`` and ``expanding`` retrain on :func:`policy_window`, and ``on_alert``
    retrains on everything before ``m`` when ``alert(reference_rows, reference_scores,
    last_month_rows, last_month_scores)`` is true for the month before ``m`` (reference: the
    current model's training rows and its scores of them).

    Returns one row per policy and scored month: ``policy``, ``month`` (YYYY-MM), ``retrained``
    (a model was trained for this month; the first month: the initial one), ``model_trained_on``
    (first..last day), ``train_start``, ``train_end`` (exclusive), ``train_rows``,
    ``fit_seconds`` (seconds to fit and score, charged to every policy that trains this window,
    though it is fitted once), ``rows``, ``roc_auc`` and ``brier``.

    Raises:
        ValueError: an unknown policy, ``on_alert`` without ``alert``, or no month to score.
    """
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise ValueError(f"unknown policies {unknown}; choose from {', '.join(POLICIES)}")
    if "on_alert" in policies and alert is None:
        raise ValueError("policy on_alert needs an alert function")
    frame = frame.reset_index(drop=True)
    times = frame[time_col]
    months = _month_starts(times)
    if len(months) <= initial_months:
        raise ValueError(f"{len(months)} months leave none to score after {initial_months}")
    stop = add_months(months[-1], 1)
    fitter = _Fitter(frame, times, spec, candidate, seed, "on_alert" in policies, stop, {})
    plan = _Schedule(pd.Timestamp(times.min()).date(), train_months, months[initial_months])
    scored = months[initial_months:]
    rows = [row for policy in policies for row in _run_policy(policy, fitter, scored, alert, plan)]
    return pd.DataFrame(rows)


def policy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy (in table order): ``months`` scored, ``trainings``, ``rows_trained`` (the
    training rows summed over its trainings: the cost that does not vary from run to run),
    ``fit_seconds`` (total wall time; varies, so the stage keeps it out of its DVC outputs),
    ``roc_auc_mean`` and ``brier_mean`` over the scored months, ``auc_gain_vs_never`` (mean of
    the month-by-month ROC AUC differences against ``never``; NaN without it), and the lowest
    and highest monthly ROC AUC."""
    groups = table.groupby("policy", sort=False)
    out = pd.DataFrame(
        {
            "months": groups.size(),
            "trainings": groups["retrained"].sum().astype(int),
            "rows_trained": groups.apply(
                lambda g: int(g.loc[g["retrained"], "train_rows"].sum()), include_groups=False
            ),
            "fit_seconds": groups["fit_seconds"].sum(),
            "roc_auc_mean": groups["roc_auc"].mean(),
            "brier_mean": groups["brier"].mean(),
        }
    )
    auc = table.pivot(index="month", columns="policy", values="roc_auc")
    gain = auc.sub(auc["never"], axis=0).mean() if "never" in auc else np.nan
    out["auc_gain_vs_never"] = gain if np.isscalar(gain) else gain.reindex(out.index)
    out["roc_auc_min"] = groups["roc_auc"].min()
    out["roc_auc_max"] = groups["roc_auc"].max()
    return out.rename_axis("policy").reset_index()


def rows_text(count: float) -> str:
    """A row count with sensible units: ``"1,234 rows"`` below a million, ``"2.35 M rows"``
    from there on."""
    if count >= 1e6:
        return f"{count / 1e6:.2f} M rows"
    return f"{int(count):,} row{'' if int(count) == 1 else 's'}"


def policy_findings(summary: pd.DataFrame) -> list[str]:
    """Sentences computed from :func:`policy_summary`: the best policy by mean ROC AUC, what it
    buys over never retraining and at what cost, and every policy's gain and cost."""
    best = summary.loc[summary["roc_auc_mean"].idxmax()]
    out = [
        f"Over {int(best['months'])} scored months, policy {best['policy']} has the best mean "
        f"monthly ROC AUC, {best['roc_auc_mean']:.4f} (months {best['roc_auc_min']:.4f} to "
        f"{best['roc_auc_max']:.4f}; mean Brier {best['brier_mean']:.4f})."
    ]
    if "never" not in set(summary["policy"]):
        return out
    never = summary.set_index("policy").loc["never"]
    if best["policy"] == "never":
        out.append("No retraining policy beats keeping the initial model on mean ROC AUC.")
    else:
        out.append(
            f"It gains {best['auc_gain_vs_never']:+.4f} ROC AUC a month over never retraining "
            f"(mean of the month-by-month differences), for {int(best['trainings'])} trainings "
            f"on {rows_text(best['rows_trained'])} in all against "
            f"{int(never['trainings'])} on {rows_text(never['rows_trained'])}."
        )
    others = [
        f"{r.policy} {r.auc_gain_vs_never:+.4f} ({int(r.trainings)} trainings, "
        f"{rows_text(r.rows_trained)})"
        for r in summary.itertuples()
        if r.policy != "never"
    ]
    if others:
        out.append("Gain over never retraining, per policy: " + "; ".join(others) + ".")
    return out


def plot_policies(table: pd.DataFrame) -> Any:
    """Monthly ROC AUC and Brier score per policy; filled markers where the policy retrained."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric in zip(axes, ("roc_auc", "brier"), strict=True):
        for policy, g in table.groupby("policy", sort=False):
            (line,) = ax.plot(g["month"], g[metric], label=policy)
            done = g[g["retrained"]]
            ax.scatter(done["month"], done[metric], color=line.get_color(), zorder=3)
        ax.set(title=metric, xlabel="scored month")
        ax.tick_params(axis="x", labelrotation=45)
    axes[0].legend(fontsize="small", title="policy (dot: retrained)")
    fig.tight_layout()
    return fig
