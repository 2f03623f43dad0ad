"""Summaries of the processed train/valid/test splits (generic: reads the spec's columns)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tabstudy.spec import LABEL


def split_summary(splits: dict[str, pd.DataFrame], time_column: str | None) -> pd.DataFrame:
    """Rows and positive rate of each split, and its date range when rows have a time column."""
    rows = []
    for k, v in splits.items():
        row: dict[str, Any] = {
            "split": k,
            "rows": len(v),
            "positive_rate": round(float(v[LABEL].mean()), 4),
        }
        if time_column and time_column in v.columns:
            row["first_date"] = v[time_column].min().date().isoformat()
            row["last_date"] = v[time_column].max().date().isoformat()
        rows.append(row)
    return pd.DataFrame(rows).set_index("split")
