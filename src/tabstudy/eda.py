"""Exploratory summaries of the raw data: the target rate over time and by group, missingness,
distributions and numeric relations, each with a written finding computed from the numbers.
Generic: a study plugin supplies the labelled rows and what to break them down by
(:class:`EdaFrame`). Pure functions returning DataFrames, figures or text."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from tabstudy.spec import LABEL

TARGET = LABEL  # the 0/1 label column of the rows EDA describes (the study's label builder)
MAX_GROUP_LEVELS = 30
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class EdaFrame:
    """One row per labelled example, with what the EDA breaks the target rate down by."""

    frame: pd.DataFrame
    label: str
    time_groups: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    distributions: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)


def add_calendar(frame: pd.DataFrame, when: pd.Series) -> pd.DataFrame:
    """Add ``month``, ``weekday`` (Mon..Sun, ordered) and ``hour`` from timestamps ``when``."""
    out = frame.copy()
    out["month"] = when.dt.month
    out["weekday"] = pd.Categorical(
        when.dt.weekday.map(dict(enumerate(WEEKDAYS))), categories=WEEKDAYS, ordered=True
    )
    out["hour"] = when.dt.hour
    return out


def rate_by(frame: pd.DataFrame, column: str, min_count: int = 1) -> pd.DataFrame:
    """Positive rate and row count per value of ``column`` (groups below ``min_count`` dropped)."""
    out = frame.groupby(column, observed=True)[TARGET].agg(rate="mean", rows="size")
    return out[out["rows"] >= min_count]


def missingness(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Share of missing values of every column that has any, across tables."""
    rows = [
        {"table": t, "column": c, "missing_share": float(df[c].isna().mean())}
        for t, df in tables.items()
        for c in df.columns
        if df[c].isna().any()
    ]
    cols = ["table", "column", "missing_share"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("missing_share", ascending=False).reset_index(drop=True)


def relations(
    frame: pd.DataFrame, columns: list[str], q: int = 5, k: int = 6, target: str = TARGET
) -> pd.DataFrame:
    """Positive rate per quantile bin (1 = lowest) of the ``k`` numeric columns whose rate
    varies most across bins (missing values left out)."""
    out = {}
    for col in columns:
        values = frame[col]
        if values.nunique() < q:
            continue
        bins = pd.qcut(values.rank(method="first"), q, labels=range(1, q + 1))
        out[col] = frame.groupby(bins, observed=True)[target].mean()
    table = pd.DataFrame(out).rename_axis(f"quantile (1 = lowest of {q})")
    if table.empty:
        return table
    spread = (table.max() - table.min()).sort_values(ascending=False)
    return table[spread.index[:k]]


def bar_rate(table: pd.DataFrame, title: str, xlabel: str, label: str) -> Figure:
    """Bar chart of a ``rate_by`` table with the overall mean as a dashed line."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar([str(i) for i in table.index], table["rate"], color="#4C72B0")
    overall = (table["rate"] * table["rows"]).sum() / table["rows"].sum()
    ax.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"overall {overall:.1%}")
    ax.set(title=title, xlabel=xlabel, ylabel=f"share: {label}")
    ax.tick_params(axis="x", labelrotation=90 if len(table) > 12 else 0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # beside, not on, bars
    fig.tight_layout()
    return fig


def histograms(frame: pd.DataFrame, columns: list[str], clip_quantile: float = 0.99) -> Figure:
    """One histogram per numeric column, clipped at a high quantile so tails stay readable."""
    columns = columns[:6]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False)
    for ax, col in zip(list(axes[0]), columns, strict=True):
        s = frame[col].dropna()
        cap = s.quantile(clip_quantile)
        ax.hist(s.clip(upper=cap), bins=40, color="#55A868")
        clipped = int((s > cap).sum())
        note = f"\n{clipped:,} values above {cap:.4g} shown at {cap:.4g}" if clipped else ""
        ax.set_title(f"{col}{note}", fontsize=9)
    fig.tight_layout()
    return fig


def _range_finding(column: str, table: pd.DataFrame) -> str:
    lo, hi = table["rate"].idxmin(), table["rate"].idxmax()
    text = (
        f"By {column}, the rate ranges from {table.loc[lo, 'rate']:.1%} ({column} {lo}) to "
        f"{table.loc[hi, 'rate']:.1%} ({column} {hi})"
    )
    if column == "month":
        text += "; a time-ordered split will see this drift between training and test"
    if column == "hour" and len(table) >= 6:
        third = len(table) // 3
        text += (
            f"; {table['rate'].iloc[:third].mean():.1%} in the first third of the day's hours "
            f"against {table['rate'].iloc[-third:].mean():.1%} in the last"
        )
    return text + "."


def findings(
    eda: EdaFrame,
    by_group: dict[str, pd.DataFrame],
    related: pd.DataFrame,
    missing: pd.DataFrame,
) -> list[str]:
    """Short written findings, each computed from the tables the notebook shows."""
    rate = eda.frame[TARGET].mean()
    out = [f"{rate:.1%} of {len(eda.frame)} labelled rows are positive ({eda.label})."]
    out += [_range_finding(c, t) for c, t in by_group.items() if len(t) >= 2]
    for col in related.columns[:2]:
        first, last = related[col].iloc[0], related[col].iloc[-1]
        trend = "rises" if last > first else "falls"
        out.append(
            f"The rate {trend} from {first:.1%} to {last:.1%} from the lowest to the highest "
            f"quintile of {col}."
        )
    if not missing.empty:
        top = missing.iloc[0]
        out.append(
            f"The most often missing column is {top['table']}.{top['column']} "
            f"({top['missing_share']:.1%} missing); {len(missing)} column(s) have gaps."
        )
    if "cancelled" in eda.notes:
        n = eda.notes
        share = (n["cancelled"] + n["diverted"]) / n["rows"]
        out.append(
            f"{n['cancelled']} flights were cancelled and {n['diverted']} diverted ({share:.1%} "
            "of all); they have no arrival delay and no label."
        )
    if eda.notes.get("target_missing"):
        out.append(f"{eda.notes['target_missing']} rows have no target value and are left out.")
    return out
