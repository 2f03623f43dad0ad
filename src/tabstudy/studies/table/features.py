"""Features for your own table (``data.source: file``): one feature per column.

The label is ``target.column == target.positive``. Each remaining column becomes a feature as it
is, categorical or numeric as declared in params.yaml ``features`` (inferred from its type when
not declared), except ``features.exclude``, the time column and the target. The rows are split
by time (oldest to train, newest to test) when ``features.time_column`` is set, and by a
stratified random split otherwise. Feature names are the column names made safe for Keras input
names (``mean radius`` -> ``mean_radius``).

Leakage is the user's responsibility here: every column of a row is assumed known at prediction
time. List identifiers and columns recorded after the outcome under ``features.exclude``.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tabstudy.spec import (
    LABEL,
    MISSING_CATEGORY,
    ColumnError,
    Feature,
    FeatureSet,
    Words,
    about_column,
    safe_name,
)
from tabstudy.studies.table.config import FileTarget, TableFeatures

STUDY = "file"
SPLIT_TIME = "split_time"  # the table's time column, parsed, when it has one
GENERIC_ASOF = "a column of the input row; declared known at prediction time"


class FeatureConfigError(ValueError):
    """The target or feature columns declared in params.yaml do not fit the data."""


def as_text(value: object) -> str:
    """A target value as text, the way a CSV spells it: booleans lower case (``true``),
    whole floats without the fraction (``1.0`` -> ``1``)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def positive_mask(values: pd.Series, positive: object) -> pd.Series:
    """1.0 where ``values`` equals ``positive``, 0.0 elsewhere, NaN where the value is missing.

    Numbers compare numerically (``positive: 1`` matches ``1.0``); everything else compares as
    text (:func:`as_text` on both sides), so a YAML ``yes``, ``on`` or ``Y`` read as the string
    it is matches the column's text, and ``true`` matches a boolean column or the text ``true``
    in any case.
    """
    numeric_positive = isinstance(positive, int | float) and not isinstance(positive, bool)
    numeric_values = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
        values
    )
    if numeric_positive and numeric_values:
        hit = values.astype("float64") == float(positive)  # type: ignore[arg-type]
        return hit.astype("float64").where(values.notna())
    text = values.map(as_text, na_action="ignore")
    want = as_text(positive)
    if isinstance(positive, bool) or pd.api.types.is_bool_dtype(values):
        text, want = text.str.lower(), want.lower()
    hit = text == want
    return hit.astype("float64").where(values.notna())


def value_counts_text(values: pd.Series, limit: int = 10) -> str:
    """The most frequent values of a column with their counts, e.g. ``'yes' (3), 'no' (2)``."""
    counts = values.dropna().map(as_text).value_counts()
    shown = ", ".join(f"{v!r} ({n:,})" for v, n in counts.head(limit).items())
    more = f", and {len(counts) - limit} more" if len(counts) > limit else ""
    missing = int(values.isna().sum())
    return shown + more + (f"; {missing:,} missing" if missing else "")


def columns_text(columns: list[str], wanted: str) -> str:
    """Every column name, the closest matches to ``wanted`` first."""
    close = difflib.get_close_matches(wanted, [str(c) for c in columns], n=3, cutoff=0.5)
    rest = [c for c in columns if c not in close]
    lead = f"closest: {close}; " if close else ""
    return f"{lead}all {len(columns)} columns: {[*close, *rest]}"


def labels(frame: pd.DataFrame, column: str, positive: object, file: str) -> pd.Series:
    """:func:`positive_mask` of the target column, refusing a missing column or a positive
    value that never occurs."""
    if column not in frame.columns:
        raise FeatureConfigError(
            f"{file}: target column {column!r} (params.yaml target.column) not found; "
            f"{columns_text(list(frame.columns), column)}"
        )
    values = frame[column]
    hit = positive_mask(values, positive)
    if not (hit == 1.0).any():
        raise FeatureConfigError(
            f"{file}: no row of column {column!r} equals the positive value {positive!r} "
            f"(params.yaml target.positive); the column holds {value_counts_text(values)}"
        )
    return hit


def infer_columns(
    frame: pd.DataFrame, target: str, cfg: TableFeatures, file: str
) -> tuple[list[str], list[str]]:
    """Categorical and numeric feature columns: declared ones, or inferred from the types.

    Inference: numbers are numeric, everything else categorical; text columns with a distinct
    value on every row are identifiers and left out.
    """
    skip = {target, *(cfg.exclude or []), *([cfg.time_column] if cfg.time_column else [])}
    declared = [*(cfg.categorical or []), *(cfg.numeric or [])]
    unknown = [c for c in [*declared, *cfg.exclude, *cfg.slices] if c not in frame.columns]
    if unknown:
        raise FeatureConfigError(
            f"{file}: column(s) {', '.join(map(repr, unknown))} named in params.yaml features "
            f"are not in the data; {columns_text(list(frame.columns), unknown[0])}"
        )
    candidates = [c for c in frame.columns if c not in skip]
    if cfg.categorical is not None:
        cats = [c for c in cfg.categorical if c not in skip]
    else:
        cats = [
            c
            for c in candidates
            if c not in (cfg.numeric or [])
            and not _is_number(frame[c])
            and frame[c].nunique() < len(frame)
        ]
    if cfg.numeric is not None:
        nums = [c for c in cfg.numeric if c not in skip]
    else:
        nums = [c for c in candidates if c not in cats and _is_number(frame[c])]
    if not cats and not nums:
        raise FeatureConfigError(f"{file}: no feature columns left after excluding {sorted(skip)}")
    return cats, nums


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def features_of(cats: list[str], nums: list[str], file: str) -> tuple[Feature, ...]:
    """The spec of generic features (one per column)."""
    return tuple(
        Feature(safe_name(c), kind, file, GENERIC_ASOF, f"column {c!r} as given")
        for kind, cols in (("categorical", cats), ("numeric", nums))
        for c in cols
    )


def label_definition(target: FileTarget) -> str:
    """When the label is 1, in words."""
    return f"y = 1 when column {target.column!r} equals {target.positive!r}."


def about(target: FileTarget, cfg: TableFeatures) -> str:
    """How a table's rows are built, in Markdown, with the values of the params (the features
    page shows it)."""
    split = (
        f"time-ordered by `features.time_column` ({cfg.time_column!r})"
        if cfg.time_column
        else "stratified random (no `features.time_column`)"
    )
    return (
        f"**Your own table** (`data.source: file`). `y = 1` where `target.column` "
        f"({target.column!r}) equals `target.positive` ({target.positive!r}); every other column "
        "is a feature as given (categorical or numeric as declared, inferred from its type "
        f"otherwise), except `features.exclude`. The split is {split}."
    )


def describe(rows: int, n_features: int, file: str, ordered: bool) -> str:
    """What the rows are and how they were split, in words."""
    how = "split by time" if ordered else "split at random (stratified by the target)"
    return (
        f"{rows:,} labelled rows of `{file}` with {n_features} features, {how} into training, "
        "validation and test sets."
    )


def build(
    frame: pd.DataFrame, target: FileTarget, cfg: TableFeatures, file: str
) -> tuple[pd.DataFrame, FeatureSet]:
    """Model-ready rows (features, label, slice and time columns) and their spec.

    Rows whose target is missing are dropped.
    """
    y = labels(frame, target.column, target.positive, file)
    cats, nums = infer_columns(frame, target.column, cfg, file)
    spec = FeatureSet(
        features_of(cats, nums, file),
        tuple(safe_name(s) for s in cfg.slices),
        label_definition(target),
        describe(int(y.notna().sum()), len(cats) + len(nums), file, cfg.time_column is not None),
        SPLIT_TIME if cfg.time_column else None,
        STUDY,
        words=Words.of_table(cfg.time_column),
    )
    out = pd.DataFrame(index=frame.index)
    for c in cats:
        with about_column(c, f"{file}: the categorical feature"):
            out[safe_name(c)] = frame[c].astype("string").fillna(MISSING_CATEGORY).astype(object)
    for c in nums:
        out[safe_name(c)] = numeric_column(frame[c], c, file)
    for s in cfg.slices:
        if safe_name(s) not in out.columns:
            out[safe_name(s)] = frame[s]
    if cfg.time_column:
        out[SPLIT_TIME] = time_column(frame[cfg.time_column], cfg.time_column, file)
    out[LABEL] = y
    out = out.loc[y.notna()].reset_index(drop=True)
    out[LABEL] = out[LABEL].astype("int8")
    return out, spec


def _example(values: pd.Series, bad: pd.Series) -> str:
    """The first value of ``values`` where ``bad`` holds, with its row (0-based, as read)."""
    row = bad.to_numpy().nonzero()[0][0]
    value = values.iloc[row]
    return f"row {row}: {value.item() if isinstance(value, np.generic) else value!r}"


def _blank_as_missing(values: pd.Series) -> pd.Series:
    """Text that is empty or only whitespace as missing (typed columns unchanged)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    blank = values.map(lambda v: isinstance(v, str) and not v.strip(), na_action="ignore")
    return values.mask(blank.fillna(False).astype(bool))


def numeric_column(values: pd.Series, column: str, file: str) -> pd.Series:
    """``values`` as float64 (blank text is missing); text that is not a number stops the run
    naming the column, an example value and the way on."""
    values = _blank_as_missing(values)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise ColumnError(
            f"{file}: column {column!r} is a numeric feature, but {int(bad.sum()):,} value(s) "
            f"are not numbers (e.g. {_example(values, bad)}). Declare it under "
            "features.categorical, exclude it (features.exclude), or clean the values."
        )
    return parsed.astype("float64")


def time_column(values: pd.Series, column: str, file: str) -> pd.Series:
    """``values`` as timestamps: dates or date-times (typed, or text in one format, or ISO 8601
    in several; blank text is missing). Numbers are refused (they would read as nanoseconds
    after 1970), and so is text that is not a date in those forms (an ambiguous mix such as
    01/02/2021 beside 13/01/2021 is never read two ways); the error names the column, an
    example value and the way on."""
    hint = (
        "features.time_column must name a column of dates or date-times (e.g. 2021-03-04 or "
        "2021-03-04T10:00); set it to null for a random split."
    )
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ColumnError(
            f"{file}: the time column {column!r} holds numbers, not dates (e.g. "
            f"{_example(values, values.notna())}). {hint}"
        )
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values)
    values = _blank_as_missing(values)
    with about_column(column, f"{file}: parsing the dates", hint):
        parsed = pd.to_datetime(values, errors="coerce")  # one format, inferred from the first
        if (parsed.isna() & values.notna()).any():  # else ISO 8601 in its several forms
            iso = pd.to_datetime(values, errors="coerce", format="ISO8601")
            parsed = iso if iso.isna().sum() < parsed.isna().sum() else parsed
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise ColumnError(
            f"{file}: the time column {column!r} has {int(bad.sum()):,} value(s) that are not "
            f"dates in the first value's format, nor ISO 8601 (e.g. {_example(values, bad)}). "
            f"{hint}"
        )
    return parsed


def split(
    frame: pd.DataFrame, valid_frac: float, test_frac: float, seed: int, ordered: bool
) -> dict[str, pd.DataFrame]:
    """Train/valid/test: by time (``ordered``, on :data:`SPLIT_TIME`) or stratified random."""
    n = len(frame)
    rarest = int(frame[LABEL].value_counts().min()) if frame[LABEL].nunique() == 2 else 0
    if rarest < 3:
        raise FeatureConfigError(
            f"the rarer class has {rarest} row(s); train, valid and test need one each at least"
        )
    if ordered:
        order = np.argsort(frame[SPLIT_TIME].to_numpy(), kind="stable")
        n_test, n_valid = round(n * test_frac), round(n * valid_frac)
        cut = n - n_test - n_valid
        index = {
            "train": order[:cut],
            "valid": order[cut : n - n_test],
            "test": order[n - n_test :],
        }
    else:
        rows = np.arange(n)
        rest, test = train_test_split(
            rows, test_size=test_frac, stratify=frame[LABEL], random_state=seed
        )
        train, valid = train_test_split(
            rest,
            test_size=valid_frac / (1 - test_frac),
            stratify=frame[LABEL].to_numpy()[rest],
            random_state=seed,
        )
        index = {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}
    parts = {k: frame.iloc[v].reset_index(drop=True) for k, v in index.items()}
    for name, part in parts.items():
        if part[LABEL].nunique() < 2:
            raise FeatureConfigError(
                f"split '{name}' has {len(part)} rows and a single class; "
                "use more data or larger valid_frac/test_frac"
            )
    return parts
