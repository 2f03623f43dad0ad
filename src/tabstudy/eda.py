"""Exploratory summaries of the raw flights: target rate over time and by group, missingness and
distributions. Pure functions returning DataFrames or matplotlib figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

LATE = "late"


def with_target(flights: pd.DataFrame, delay_minutes: float) -> pd.DataFrame:
    """Flights that arrived (arrival delay known), with ``late`` = delay >= ``delay_minutes``."""
    out = flights.loc[flights["arr_delay"].notna()].copy()
    out[LATE] = (out["arr_delay"] >= delay_minutes).astype(int)
    return out


def rate_by(frame: pd.DataFrame, column: str, min_count: int = 1) -> pd.DataFrame:
    """Late rate and flight count per value of ``column`` (groups below ``min_count`` dropped)."""
    out = frame.groupby(column)[LATE].agg(late_rate="mean", flights="size")
    return out[out["flights"] >= min_count]


def unresolved_counts(flights: pd.DataFrame) -> pd.Series:
    """How many flights were cancelled (no departure) or diverted (departed, no arrival delay)."""
    cancelled = flights["dep_time"].isna()
    diverted = flights["dep_time"].notna() & flights["arr_delay"].isna()
    return pd.Series(
        {
            "flights": len(flights),
            "cancelled": int(cancelled.sum()),
            "diverted": int(diverted.sum()),
        }
    )


def missingness(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Share of missing values of every column that has any, across tables."""
    rows = [
        {"table": t, "column": c, "missing_share": float(df[c].isna().mean())}
        for t, df in tables.items()
        for c in df.columns
        if df[c].isna().any()
    ]
    return pd.DataFrame(rows).sort_values("missing_share", ascending=False).reset_index(drop=True)


def bar_rate(table: pd.DataFrame, title: str, xlabel: str) -> Figure:
    """Bar chart of a ``rate_by`` table with the overall mean as a dashed line."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar([str(i) for i in table.index], table["late_rate"], color="#4C72B0")
    overall = (table["late_rate"] * table["flights"]).sum() / table["flights"].sum()
    ax.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"overall {overall:.1%}")
    ax.set(title=title, xlabel=xlabel, ylabel="share arriving 15+ min late")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def histograms(frame: pd.DataFrame, columns: list[str], clip_quantile: float = 0.99) -> Figure:
    """One histogram per numeric column, clipped at a high quantile so tails stay readable."""
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8))
    for ax, col in zip(list(axes), columns, strict=True):
        s = frame[col].dropna()
        ax.hist(s.clip(upper=s.quantile(clip_quantile)), bins=40, color="#55A868")
        ax.set(title=col)
    fig.tight_layout()
    return fig


def findings(
    by_month: pd.DataFrame, by_carrier: pd.DataFrame, by_hour: pd.DataFrame, unresolved: pd.Series
) -> list[str]:
    """Short written findings, each computed from the tables the notebook shows."""
    worst_m, best_m = by_month["late_rate"].idxmax(), by_month["late_rate"].idxmin()
    worst_c, best_c = by_carrier["late_rate"].idxmax(), by_carrier["late_rate"].idxmin()
    early = by_hour.loc[by_hour.index <= 8, "late_rate"]
    late = by_hour.loc[by_hour.index >= 17, "late_rate"]
    share = (unresolved["cancelled"] + unresolved["diverted"]) / unresolved["flights"]
    return [
        f"Seasonality: the late rate ranges from {by_month.loc[best_m, 'late_rate']:.1%} (month "
        f"{best_m}) to {by_month.loc[worst_m, 'late_rate']:.1%} (month {worst_m}), so a"
        " time-ordered split will see drift between training and test months.",
        f"Carriers differ: {best_c} is late {by_carrier.loc[best_c, 'late_rate']:.1%} of the time, "
        f"{worst_c} {by_carrier.loc[worst_c, 'late_rate']:.1%} (carriers with 100+ flights).",
        f"Delays build up over the day: {early.mean():.1%} late for departures up to 8 am against "
        f"{late.mean():.1%} from 5 pm (mean over hours).",
        f"{unresolved['cancelled']} flights were cancelled and {unresolved['diverted']} diverted "
        f"({share:.1%} of all); they have no arrival delay.",
    ]
