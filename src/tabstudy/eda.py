"""Exploratory summaries of the raw data: the target rate over time and by group, missingness,
distributions and numeric relations, each with a written finding computed from the numbers.
Generic: a study plugin supplies the labelled rows and what to break them down by
(:class:`EdaFrame`). Pure functions returning DataFrames, figures or text."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from tabstudy.spec import IMBALANCED_SHARE, LABEL, ColumnError, Words, about_column

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
    words: Words = field(default_factory=Words)


CALENDAR = ("month", "weekday", "hour")
"""The parts of a timestamp EDA breaks the target rate down by."""


class EdaColumnError(ColumnError):
    """An EDA summary failed on one column (the message names it)."""


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns hold the same values row for row (compared as text)."""
    return bool(
        a.reset_index(drop=True).astype("string").equals(b.reset_index(drop=True).astype("string"))
    )


def calendar_name(frame: pd.DataFrame, part: str, derived: pd.Series, source: str) -> str:
    """The column name for a time-derived ``part``: ``part`` itself when the frame has no such
    column (or one holding the same values), else ``"<part> of <source>"`` (primed until free),
    so a table's own ``weekday`` is never overwritten."""
    if part not in frame.columns or _same_values(frame[part], derived):
        return part
    name = f"{part} of {source}"
    while name in frame.columns:
        name += "'"
    return name


def add_calendar(
    frame: pd.DataFrame, when: pd.Series, source: str = "time"
) -> tuple[pd.DataFrame, list[str]]:
    """Add month, weekday (Mon..Sun, ordered) and hour of timestamps ``when`` (read from the
    column ``source``); return the frame and the derived columns' names (see
    :func:`calendar_name`: the frame's own columns are never overwritten)."""
    out = frame.copy()
    parts = {
        "month": when.dt.month,
        "weekday": pd.Series(
            pd.Categorical(
                when.dt.weekday.map(dict(enumerate(WEEKDAYS))), categories=WEEKDAYS, ordered=True
            ),
            index=when.index,
        ),
        "hour": when.dt.hour,
    }
    names = []
    for part, values in parts.items():
        name = calendar_name(out, part, values, source)
        out[name] = values
        names.append(name)
    return out, names


def rate_by(frame: pd.DataFrame, column: str, min_count: int = 1) -> pd.DataFrame:
    """Positive rate and row count per value of ``column`` (groups below ``min_count`` dropped).

    Raises:
        EdaColumnError: naming the column, when grouping by it fails.
    """
    with about(column):
        out = frame.groupby(column, observed=True)[TARGET].agg(rate="mean", rows="size")
    return out[out["rows"] >= min_count]


def about(column: str) -> AbstractContextManager[None]:
    """Re-raise an error of a per-column summary as :class:`EdaColumnError` naming ``column``."""
    return about_column(column, "EDA", error=EdaColumnError)


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
        with about(col):
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
        with about(col):
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
    part = column.split(" of ")[0]  # a derived calendar column may be "month of <time>"
    if part == "month":
        text += "; a time-ordered split will see this drift between training and test"
    if part == "hour" and len(table) >= 6:
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
    out = [f"{rate:.1%} of {len(eda.frame):,} labelled rows are positive ({eda.label})."]
    if rate < IMBALANCED_SHARE:
        out.append(
            f"The target is imbalanced ({rate:.1%} positive, below {IMBALANCED_SHARE:.0%}): ROC "
            "AUC can stay high while most flagged rows are false alarms, so the evaluation and "
            f"the card show PR AUC beside it (its chance level is the positive share); "
            "train.class_weight: balanced weighs the classes equally in training."
        )
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


def _listing(items: list[str]) -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def time_note(eda: EdaFrame) -> str:
    """What the target-over-time tables show, in the study's words; or, without them, why not."""
    if not eda.time_groups:
        if eda.words.time:
            return (
                f"Every row has the same month, weekday and hour of {eda.words.time}: there is "
                "nothing to break the rate down by over time."
            )
        return (
            "No time axis: the rows have no time column (`features.time_column` is not set), so "
            "the rate is not broken down by month, weekday or hour."
        )
    parts = [column.split(" of ")[0] for column in eda.time_groups]
    return f"Positive rate by {_listing(parts)} of {eda.words.time}."


def groups_note(eda: EdaFrame) -> str:
    """Why the by-group tables are missing (empty when there are groups to show)."""
    if eda.groups:
        return ""
    return (
        f"No categorical column with at most {MAX_GROUP_LEVELS} values to group by (every "
        "column of this table is numeric, or has too many values); the numeric columns are "
        "broken down by quintile below."
    )


def missing_shares(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The share of missing values of each of ``columns`` that has any (``missing_share``),
    most often missing first."""
    share = frame[columns].isna().mean()
    share = share[share > 0].sort_values(ascending=False, kind="stable")
    return share.rename("missing_share").rename_axis("column").to_frame()


def plot_tables(
    eda: EdaFrame, by_group: dict[str, pd.DataFrame], related: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The EDA's DVC plots by file name stem: the rate per value of each time part and group
    (``rate_by_<column>``), per quintile of each numeric column shown
    (``rate_by_quintile_of_<column>``), and the overall rate when there is neither, so the plots
    folder is never empty."""
    out = {
        f"rate_by_{column}": table.reset_index().assign(
            **{column: lambda t, c=column: t[c].astype(str)}
        )
        for column, table in by_group.items()
    }
    for column in related.columns:
        out[f"rate_by_quintile_of_{column}"] = pd.DataFrame(
            {"quintile": related.index.astype(int), "rate": related[column].to_numpy()}
        )
    if not out:
        out["rate_overall"] = pd.DataFrame(
            {"rows": [len(eda.frame)], "rate": [float(eda.frame[TARGET].mean())]}
        )
    return out
