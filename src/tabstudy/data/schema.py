"""Check raw tables against the data contract with pandera, and report anomalies.

:func:`pandera_schema` turns one table of a :class:`~tabstudy.data.contract.Contract` into a
``pandera.DataFrameSchema``; :func:`check_table` runs it lazily (every failure collected) and
turns pandera's failure cases into one :class:`Anomaly` per rule: how many rows break it, their
share, and a few example values.

Hard rules stop the pipeline (:func:`raise_for_hard`) with an error naming the file, the column,
the rule and an example value: a missing table or column, a wrong type (a value that is not of the
declared type, e.g. text in a numeric column), an infinity, a null where none is allowed, a
duplicated key, too few rows, a target that is all missing or has a single class.

Soft rules warn and are reported when their share exceeds the threshold in params.yaml: missing
values in a nullable column, values outside the declared range, categories never seen before.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from tabstudy.config import ValidateConfig
from tabstudy.data.contract import ColumnContract, Contract, TableContract

Severity = Literal["hard", "soft"]
Status = Literal["ok", "fail", "warn", "note"]
N_EXAMPLES = 3


@dataclass(frozen=True)
class Thresholds:
    """Shares above which a soft rule warns (params.yaml ``validate``)."""

    max_missing_share: float = 0.05
    max_out_of_range_share: float = 0.0
    max_unseen_category_share: float = 0.0


def thresholds(cfg: ValidateConfig) -> Thresholds:
    """The soft-rule thresholds of params.yaml ``validate``."""
    return Thresholds(
        cfg.max_missing_share, cfg.max_out_of_range_share, cfg.max_unseen_category_share
    )


@dataclass(frozen=True)
class Anomaly:
    """The outcome of one rule on one table column: rows breaking it and examples.

    ``status`` is ``fail`` (hard rule broken), ``warn`` (soft rule above its threshold), ``note``
    (soft rule broken below its threshold) or ``ok``.
    """

    table: str
    column: str
    rule: str
    severity: Severity
    count: int
    share: float
    status: Status
    examples: list[str] = field(default_factory=list)

    def describe(self, file: str = "") -> str:
        where = f"{file}: " if file else ""
        example = f"; example: {self.examples[0]}" if self.examples else ""
        return (
            f"{where}table '{self.table}', column '{self.column}': rule '{self.rule}' "
            f"violated by {self.count} row(s){example}"
        )


class DataValidationError(ValueError):
    """Raw data break a hard rule of the contract."""


class DataQualityWarning(UserWarning):
    """A soft rule of the contract is broken above its threshold."""


# ---------------------------------------------------------------------------------------------
# Rules: each is a named pandera check; the name is what the anomalies report shows.


def _numeric(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    return pd.to_numeric(s, errors="coerce")


def _type_check(kind: str) -> Callable[[pd.Series], pd.Series]:
    """Element-wise: True where a value is null or of ``kind`` (so failures are the bad values)."""

    def check(s: pd.Series) -> pd.Series:
        if kind == "string":
            return pd.Series(True, index=s.index)
        if kind == "bool":
            return s.isna() | s.isin([True, False])
        num = _numeric(s)
        ok = num.notna() | s.isna()
        if kind == "int":
            finite = num.where(np.isfinite(num))
            ok &= finite.isna() | (finite == finite.round())
        return ok

    return check


def _finite(s: pd.Series) -> pd.Series:
    return ~np.isinf(_numeric(s).fillna(0.0))


def _in_range(lo: float | None, hi: float | None) -> Callable[[pd.Series], pd.Series]:
    def check(s: pd.Series) -> pd.Series:
        num = _numeric(s)
        ok = num.isna() | np.isinf(num)  # nulls and infinities have their own rules
        lo_ok = True if lo is None else num >= lo
        hi_ok = True if hi is None else num <= hi
        return ok | (lo_ok & hi_ok)

    return check


def _categories(allowed: list[str]) -> Callable[[pd.Series], pd.Series]:
    known = set(allowed)

    def check(s: pd.Series) -> pd.Series:
        return s.isna() | s.astype(str).isin(known)

    return check


def range_rule(col: ColumnContract) -> str:
    lo = "-inf" if col.min is None else f"{col.min:g}"
    hi = "inf" if col.max is None else f"{col.max:g}"
    return f"range [{lo}, {hi}]"


def type_rule(col: ColumnContract) -> str:
    return f"type {col.type}"


CATEGORY_RULE = "known category"
FINITE_RULE = "finite"
NOT_NULL_RULE = "not null"
MISSING_RULE = "missing share"
PRESENT_RULE = "column present"
KEY_RULE = "unique key"


def column_rules(col: ColumnContract) -> list[tuple[str, Severity]]:
    """The rules a column's contract declares, in the order they are reported."""
    rules: list[tuple[str, Severity]] = [(PRESENT_RULE, "hard"), (type_rule(col), "hard")]
    if col.type in ("int", "float"):
        rules.append((FINITE_RULE, "hard"))
    rules.append((NOT_NULL_RULE, "hard") if not col.nullable else (MISSING_RULE, "soft"))
    if col.min is not None or col.max is not None:
        rules.append((range_rule(col), "soft"))
    if col.categories is not None:
        rules.append((CATEGORY_RULE, "soft"))
    return rules


def pandera_column(col: ColumnContract) -> pa.Column:
    """A pandera column: the type check first, then finiteness, range and categories."""
    checks = [pa.Check(_type_check(col.type), name=type_rule(col))]
    if col.type in ("int", "float"):
        checks.append(pa.Check(_finite, name=FINITE_RULE))
    if col.min is not None or col.max is not None:
        checks.append(pa.Check(_in_range(col.min, col.max), name=range_rule(col)))
    if col.categories is not None:
        checks.append(pa.Check(_categories(col.categories), name=CATEGORY_RULE))
    return pa.Column(None, checks=checks, nullable=True, required=True)


def pandera_schema(name: str, table: TableContract) -> pa.DataFrameSchema:
    """The pandera schema of one contract table's column rules; nulls and the unique key are
    counted in :func:`check_table` (one pass each, with a whole-row example for the key)."""
    return pa.DataFrameSchema(
        {c: pandera_column(rule) for c, rule in table.columns.items()}, name=name
    )


# ---------------------------------------------------------------------------------------------
# Running the checks


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        return err.failure_cases
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _examples(values: pd.Series | list, n: int = N_EXAMPLES) -> list[str]:
    seen: list[str] = []
    for v in values:
        text = repr(v.item() if hasattr(v, "item") else v)
        if text not in seen:
            seen.append(text)
        if len(seen) == n:
            break
    return seen


def _status(severity: Severity, count: int, share: float, threshold: float) -> Status:
    if count == 0:
        return "ok"
    if severity == "hard":
        return "fail"
    return "warn" if share > threshold else "note"


def _threshold(rule: str, t: Thresholds) -> float:
    if rule == MISSING_RULE:
        return t.max_missing_share
    if rule == CATEGORY_RULE:
        return t.max_unseen_category_share
    return t.max_out_of_range_share


def check_table(
    frame: pd.DataFrame, name: str, table: TableContract, thresholds: Thresholds
) -> list[Anomaly]:
    """Every rule of a contract table evaluated on ``frame``: one :class:`Anomaly` per rule."""
    n = len(frame)
    rows_rule = f"at least {table.min_rows} row(s)"
    if n < table.min_rows:
        return [Anomaly(name, "*", rows_rule, "hard", n, 1.0, "fail", [f"{n} row(s)"])]
    out = [Anomaly(name, "*", rows_rule, "hard", 0, 0.0, "ok")]
    failures = _failures(pandera_schema(name, table), frame)
    for col_name, col in table.columns.items():
        present = col_name in frame.columns
        for rule, severity in column_rules(col):
            if rule == PRESENT_RULE:
                count, examples = (
                    (0, []) if present else (n, [f"columns: {list(frame.columns)[:8]}"])
                )
            elif not present:
                continue
            elif rule in (NOT_NULL_RULE, MISSING_RULE):
                count, examples = int(frame[col_name].isna().sum()), ["<NA>"]
            else:
                hit = failures[(failures["column"] == col_name) & (failures["check"] == rule)]
                count, examples = len(hit), _examples(hit["failure_case"])
            share = count / n if n else 0.0
            status = _status(severity, count, share, _threshold(rule, thresholds))
            out.append(
                Anomaly(
                    name, col_name, rule, severity, count, share, status, examples if count else []
                )
            )
    if table.key:
        out.append(_key_anomaly(frame, name, table.key))
    return out


def _key_anomaly(frame: pd.DataFrame, name: str, key: list[str]) -> Anomaly:
    column = "+".join(key)
    if not all(k in frame.columns for k in key):
        return Anomaly(name, column, KEY_RULE, "hard", 0, 0.0, "ok")  # a missing column fails
    dup = frame[frame.duplicated(key, keep=False)]
    examples = [repr(r) for r in dup[key].head(1).to_dict("records")]
    share = len(dup) / len(frame)
    status = _status("hard", len(dup), share, 0)
    return Anomaly(name, column, KEY_RULE, "hard", len(dup), share, status, examples)


def validate_tables(
    tables: dict[str, pd.DataFrame],
    contract: Contract,
    thresholds: Thresholds,
    min_rows: dict[str, int] | None = None,
) -> list[Anomaly]:
    """Check every table the contract declares; ``min_rows`` raises a table's row minimum.

    A table the contract names but the data lack fails "table present". When exactly one
    contract table is missing and exactly one data table is not in the contract (a file renamed,
    or a contract written for another file name), that data table is still checked against the
    missing table's rules, so the name mismatch is one more finding and never hides a real
    violation."""
    out: list[Anomaly] = []
    minimum = min_rows or {}
    missing = [name for name in contract.tables if name not in tables]
    extra = [name for name in tables if name not in contract.tables]
    stand_in = extra[0] if len(missing) == 1 and len(extra) == 1 else None
    for name, table in contract.tables.items():
        data_name = name
        if name not in tables:
            out.append(Anomaly(name, "*", "table present", "hard", 0, 1.0, "fail", [name]))
            if stand_in is None:
                continue
            data_name = stand_in
        need = max(table.min_rows, minimum.get(name, 1), minimum.get(data_name, 1))
        out += check_table(
            tables[data_name], name, table.model_copy(update={"min_rows": need}), thresholds
        )
    return out


def check_target(labels: pd.Series, table: str, column: str) -> list[Anomaly]:
    """Hard rules of a binary target: not all missing, two classes."""
    n = len(labels)
    known = labels.dropna()
    missing = Anomaly(table, column, "target not all missing", "hard", 0, 0.0, "ok")
    classes = Anomaly(table, column, "target has two classes", "hard", 0, 0.0, "ok")
    if known.empty:
        missing = Anomaly(table, column, missing.rule, "hard", n, 1.0, "fail", ["<NA>"])
        return [missing, classes]
    values = sorted(known.unique().tolist())
    if len(values) < 2:
        classes = Anomaly(
            table,
            column,
            classes.rule,
            "hard",
            len(known),
            1.0,
            "fail",
            [f"only class {values[0]!r}"],
        )
    return [missing, classes]


def raise_for_hard(anomalies: list[Anomaly], files: dict[str, str]) -> None:
    """Raise :class:`DataValidationError` listing every broken hard rule, if any.

    Args:
        anomalies: every rule's outcome.
        files: the file each table was read from (named in the message).
    """
    hard = sorted(  # the rules' violations first, a table name mismatch last
        (a for a in anomalies if a.status == "fail"), key=lambda a: a.rule == "table present"
    )
    if hard:
        lines = [_explain(a, files) for a in hard]
        raise DataValidationError("raw data violate the contract:\n  " + "\n  ".join(lines))


def _explain(a: Anomaly, files: dict[str, str]) -> str:
    if a.rule != "table present":
        only = next(iter(files.values())) if len(files) == 1 else ""
        return a.describe(files.get(a.table, only))
    read = ", ".join(f"'{t}' from {f}" for t, f in files.items()) or "none"
    return (
        f"the contract expects a table '{a.table}', but the data gave table(s) {read}; a "
        f"file's table is its file name without the suffix: rename the file to "
        f"'{a.table}' + its suffix, or the contract's table to the file's name"
    )


def warn_soft(anomalies: list[Anomaly]) -> list[Anomaly]:
    """Emit a :class:`DataQualityWarning` for each soft rule above its threshold; return them."""
    above = [a for a in anomalies if a.status == "warn"]
    for a in above:
        warnings.warn(
            f"table '{a.table}', column '{a.column}': {a.rule} {a.share:.1%} "
            f"({a.count} rows){'; e.g. ' + a.examples[0] if a.examples else ''}",
            DataQualityWarning,
            stacklevel=2,
        )
    return above


def anomalies_table(anomalies: list[Anomaly], only_broken: bool = False) -> pd.DataFrame:
    """Anomalies as a DataFrame (one row per rule) for reports."""
    cols = ["table", "column", "rule", "severity", "status", "count", "share", "examples"]
    frame = pd.DataFrame([asdict(a) for a in anomalies], columns=cols)
    return frame[frame["status"] != "ok"].reset_index(drop=True) if only_broken else frame


def anomalies_report(anomalies: list[Anomaly], contract: Contract) -> dict[str, object]:
    """The JSON anomalies report: a summary and every rule's outcome."""
    counts = {s: sum(a.status == s for a in anomalies) for s in ("ok", "fail", "warn", "note")}
    return {
        "contract": contract.name,
        "contract_version": contract.version,
        "rules": len(anomalies),
        **counts,
        "anomalies": [asdict(a) for a in anomalies],
    }
