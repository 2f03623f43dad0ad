"""Declared schemas of the raw tables and their validation.

A :class:`TableSchema` lists each column's kind, nullability and allowed range or categories, and
the table's unique key. :func:`validate_table` checks a DataFrame against it and returns every
:class:`Violation` found; hard ones (missing column, wrong type, empty table, duplicated key, nulls
where none are allowed, values out of range) stop the pipeline through :func:`raise_for_hard`,
with an error that names the file, the column, the rule and an example value. Soft ones (a share of
missing values above the threshold) are reported and warned about.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import pandas as pd

Kind = Literal["int", "float", "string"]
Severity = Literal["hard", "soft"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    min_rows: int = 1


@dataclass(frozen=True)
class Violation:
    table: str
    column: str
    rule: str
    severity: Severity
    count: int
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


def _c(
    name: str, kind: Kind, nullable: bool = False, lo: float | None = None, hi: float | None = None
) -> Column:
    return Column(name, kind, nullable, lo, hi)


NYCFLIGHTS13: dict[str, TableSchema] = {
    "flights": TableSchema(
        "flights",
        (
            _c("year", "int", lo=2013, hi=2013),
            _c("month", "int", lo=1, hi=12),
            _c("day", "int", lo=1, hi=31),
            _c("dep_time", "float", True, 1, 2400),
            _c("sched_dep_time", "int", lo=1, hi=2359),
            _c("dep_delay", "float", True, -120, 1440),
            _c("arr_time", "float", True, 1, 2400),
            _c("sched_arr_time", "int", lo=1, hi=2359),
            _c("arr_delay", "float", True, -120, 1440),
            _c("carrier", "string"),
            _c("flight", "int", lo=1),
            _c("tailnum", "string", True),
            _c("origin", "string"),
            _c("dest", "string"),
            _c("air_time", "float", True, 1, 1000),
            _c("distance", "int", lo=1, hi=6000),
            _c("hour", "int", lo=0, hi=23),
            _c("minute", "int", lo=0, hi=59),
            _c("time_hour", "string"),
        ),
        key=("year", "month", "day", "carrier", "flight", "sched_dep_time", "origin"),
    ),
    "weather": TableSchema(
        "weather",
        (
            _c("origin", "string"),
            _c("year", "int", lo=2013, hi=2013),
            _c("month", "int", lo=1, hi=12),
            _c("day", "int", lo=1, hi=31),
            _c("hour", "int", lo=0, hi=23),
            _c("temp", "float", True, -40, 130),
            _c("dewp", "float", True, -60, 100),
            _c("humid", "float", True, 0, 100),
            _c("wind_dir", "float", True, 0, 360),
            _c("wind_speed", "float", True, 0, 1100),
            _c("wind_gust", "float", True, 0, 1100),
            _c("precip", "float", True, 0, 10),
            _c("pressure", "float", True, 900, 1100),
            _c("visib", "float", True, 0, 10),
            _c("time_hour", "string"),
        ),
        key=(),
    ),
    "planes": TableSchema(
        "planes",
        (
            _c("tailnum", "string"),
            _c("year", "float", True, 1940, 2014),
            _c("type", "string"),
            _c("manufacturer", "string"),
            _c("model", "string"),
            _c("engines", "int", lo=1, hi=4),
            _c("seats", "int", lo=1, hi=1000),
            _c("speed", "float", True, 0, 1000),
            _c("engine", "string"),
        ),
        key=("tailnum",),
    ),
    "airports": TableSchema(
        "airports",
        (
            _c("faa", "string"),
            _c("name", "string"),
            _c("lat", "float", lo=-90, hi=90),
            _c("lon", "float", lo=-180, hi=180),
            _c("alt", "int"),
            _c("tz", "int", lo=-12, hi=14),
            _c("dst", "string"),
            _c("tzone", "string", True),
        ),
        key=("faa",),
    ),
    "airlines": TableSchema(
        "airlines", (_c("carrier", "string"), _c("name", "string")), key=("carrier",)
    ),
}


def _examples(values: pd.Series, n: int = 3) -> list[str]:
    return [repr(v) for v in values.head(n).tolist()]


def _kind_ok(series: pd.Series, kind: Kind) -> bool:
    if kind == "int":
        return pd.api.types.is_integer_dtype(series)
    if kind == "float":
        return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def check_column(df: pd.DataFrame, table: str, col: Column, max_missing: float) -> list[Violation]:
    """Every violation of one column's rules (type, nulls, range, missing share)."""
    if col.name not in df.columns:
        return [Violation(table, col.name, "column present", "hard", len(df), [])]
    s = df[col.name]
    if not _kind_ok(s, col.kind):
        bad = s.dropna()
        return [
            Violation(
                table,
                col.name,
                f"type {col.kind} (found {s.dtype})",
                "hard",
                len(bad),
                _examples(bad),
            )
        ]
    out: list[Violation] = []
    nulls = int(s.isna().sum())
    if nulls and not col.nullable:
        out.append(Violation(table, col.name, "not null", "hard", nulls, ["<NA>"]))
    if nulls and col.nullable and nulls / max(len(s), 1) > max_missing:
        out.append(
            Violation(
                table,
                col.name,
                f"missing share <= {max_missing:g}",
                "soft",
                nulls,
                [f"{nulls / len(s):.1%} missing"],
            )
        )
    if col.kind != "string" and (col.min is not None or col.max is not None):
        lo = -float("inf") if col.min is None else col.min
        hi = float("inf") if col.max is None else col.max
        bad = s[s.notna() & ~s.between(lo, hi)]
        if len(bad):
            out.append(
                Violation(
                    table, col.name, f"range [{lo:g}, {hi:g}]", "hard", len(bad), _examples(bad)
                )
            )
    return out


def check_table(
    df: pd.DataFrame, schema: TableSchema, max_missing: float, min_rows: int | None = None
) -> list[Violation]:
    """Every violation of a table's schema: row count, columns, unique key.

    ``min_rows`` overrides the schema's minimum row count.
    """
    need = schema.min_rows if min_rows is None else min_rows
    if len(df) < need:
        return [Violation(schema.name, "*", f"at least {need} row(s)", "hard", len(df))]
    out = [v for col in schema.columns for v in check_column(df, schema.name, col, max_missing)]
    key = list(schema.key)
    if key and all(k in df.columns for k in key):
        dup = df[df.duplicated(key, keep=False)]
        if len(dup):
            example = dup[key].head(1).to_dict("records")
            out.append(
                Violation(
                    schema.name, "+".join(key), "unique key", "hard", len(dup), [repr(example[0])]
                )
            )
    return out


def validate_all(
    tables: dict[str, pd.DataFrame],
    max_missing: float,
    fact_min_rows: int,
    schemas: dict[str, TableSchema] | None = None,
    fact_table: str = "flights",
) -> list[Violation]:
    """Check every table against its schema; ``fact_min_rows`` applies to the fact table."""
    schemas = NYCFLIGHTS13 if schemas is None else schemas
    missing = sorted(set(schemas) - set(tables))
    out = [Violation(t, "*", "table present", "hard", 0) for t in missing]
    for name, df in tables.items():
        rows = fact_min_rows if name == fact_table else None
        out += check_table(df, schemas[name], max_missing, rows)
    return out


def check_target(labels: pd.Series, table: str, column: str) -> list[Violation]:
    """Hard violations of a binary target: all values missing, or a single class."""
    known = labels.dropna()
    if known.empty:
        return [Violation(table, column, "target not all missing", "hard", len(labels), ["<NA>"])]
    classes = sorted(known.unique().tolist())
    if len(classes) < 2:
        return [
            Violation(
                table,
                column,
                "target has two classes",
                "hard",
                len(known),
                [f"only class {classes[0]!r}"],
            )
        ]
    return []


def check_flights_target(
    flights: pd.DataFrame, delay_minutes: float, unresolved: str
) -> list[Violation]:
    """The flights label (arrival delay >= ``delay_minutes``) must have two classes."""
    if "arr_delay" not in flights.columns or not pd.api.types.is_numeric_dtype(
        flights["arr_delay"]
    ):
        return []  # already a hard violation of the column rules
    delay = flights["arr_delay"]
    late = (delay >= delay_minutes).astype("float64").where(delay.notna())
    if unresolved == "positive":
        late = late.fillna(1.0)
    return check_target(late, "flights", "arr_delay")


def raise_for_hard(violations: list[Violation], files: dict[str, str]) -> None:
    """Raise :class:`DataValidationError` listing every hard violation, if any."""
    hard = [v for v in violations if v.severity == "hard"]
    if hard:
        lines = [v.describe(files.get(v.table, "")) for v in hard]
        raise DataValidationError("raw data violate the contract:\n  " + "\n  ".join(lines))


def violations_table(violations: list[Violation]) -> pd.DataFrame:
    """Violations as a DataFrame (one row per rule broken) for reports."""
    cols = ["table", "column", "rule", "severity", "count", "examples"]
    return pd.DataFrame([asdict(v) for v in violations], columns=cols)
