"""Slices: the test rows grouped by a column (numeric columns in quantile bins), each group's
metrics, and the slices that trail the whole."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import (
    roc_auc_score,
)

from tabstudy.spec import about_column

SLICE_HINT = "Check the column's values, or leave it out of params.yaml features.slices."


def _ordered(labels: pd.Series, order: list[str]) -> pd.Series:
    """``labels`` as an ordered categorical: ``order`` first, then any other label (``"nan"``)."""
    rest = sorted(set(labels) - set(order))
    return pd.Series(
        pd.Categorical(labels, categories=[*order, *rest], ordered=True), index=labels.index
    )


def _number_name(value: float) -> str:
    """A number as a slice label: ``"2"`` for 2.0, ``"2.5"`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _interval_names(edges: pd.IntervalIndex) -> list[str]:
    """``"(7.76, 11.58]"`` per quantile bin, with as few significant digits (4 at least) as keep
    the labels apart."""
    for digits in range(4, 18):
        names = [f"({i.left:.{digits}g}, {i.right:.{digits}g}]" for i in edges]
        if len(set(names)) == len(names):
            return names
    return [str(i) for i in edges]


def slice_values(values: pd.Series, max_levels: int = 12, bins: int = 4) -> pd.Series:
    """Slice labels of a column, as an ordered categorical of text: its values (numbers in
    numeric order, text in text order), or quartile ranges for a many-valued numeric one (lowest
    first); a missing value is the label ``"nan"``, last."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        labels = values.astype(str).where(values.notna(), "nan").astype(str)
        return _ordered(labels, sorted(set(labels) - {"nan"}))
    if values.nunique() > max_levels:
        binned = pd.qcut(values, bins, duplicates="drop")
        names = _interval_names(binned.cat.categories)
        return _ordered(binned.cat.rename_categories(names).astype(str), names)
    numbers = sorted(values.dropna().unique())
    names = [_number_name(v) for v in numbers]
    return _ordered(values.map(dict(zip(numbers, names, strict=True))).fillna("nan"), names)


def slice_table(
    frame: pd.DataFrame,
    y: np.ndarray,
    probs: Mapping[str, np.ndarray],
    slices: list[str],
    min_rows: int = 30,
) -> pd.DataFrame:
    """ROC AUC of each model per value of each slice column (slices under ``min_rows`` rows or
    with a single class get NaN): where does the model do worse than on average?"""
    rows = []
    y = np.asarray(y)
    for column in slices:
        with about_column(column, "Slicing the test rows by values", SLICE_HINT):
            labels = slice_values(frame[column])
        for value in labels.cat.categories:
            mask = (labels == value).to_numpy()
            if not mask.any():
                continue
            row: dict[str, object] = {
                "slice": column,
                "value": value,
                "rows": int(mask.sum()),
                "positive_rate": float(y[mask].mean()),
            }
            usable = mask.sum() >= min_rows and 0 < y[mask].sum() < mask.sum()
            for name, p in probs.items():
                row[f"auc_{name}"] = (
                    float(roc_auc_score(y[mask], np.asarray(p)[mask])) if usable else float("nan")
                )
            rows.append(row)
    columns = ["slice", "value", "rows", "positive_rate", *(f"auc_{m}" for m in probs)]
    table = pd.DataFrame(rows, columns=columns)  # values in slice order: numbers by value
    return table.sort_values("slice", kind="stable").reset_index(drop=True)


def trailing_slices(
    slices: pd.DataFrame, candidate: str, rival: str, margin: float, min_rows: int
) -> pd.DataFrame:
    """Slices with at least ``min_rows`` rows where the candidate's ROC AUC is more than
    ``margin`` below the rival's, worst first."""
    table = slices.assign(gap=slices[f"auc_{candidate}"] - slices[f"auc_{rival}"])
    return table[(table["rows"] >= min_rows) & (table["gap"] < -margin)].sort_values("gap")
