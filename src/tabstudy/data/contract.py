"""The data contract: a versioned YAML file declaring every raw table, and a draft inferrer.

A contract (``contracts/<name>.yaml``, under version control) declares for each table its unique
key, its minimum row count and, per column, the type (``int``, ``float``, ``string``, ``bool``),
whether nulls are allowed, the allowed range and the allowed categories. The file is parsed into
frozen pydantic models, so a typo in it is an error naming the file and the key.

``tabstudy contract infer FILE`` drafts a contract from a data file for a person to
review (ranges and categories are taken from the data as seen; the key is left for them to set).

Why our own small YAML instead of pandera's ``to_yaml`` format: pandera's serialised dtypes differ
across pandas versions (``str`` vs ``string[pyarrow]``) and carry no notion of a soft rule; ours
is short enough to review by eye. :mod:`tabstudy.data.schema` turns it into pandera schemas, and
pandera does the checking.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tabstudy import artifacts

CONTRACT_VERSION = 1
ColumnType = Literal["int", "float", "string", "bool"]
MAX_CATEGORIES = 50


class ContractError(ValueError):
    """The contract file is missing or malformed; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Strict):
    """The rules of one column."""

    type: ColumnType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(
        None, description="allowed values; a value outside is a soft anomaly (unseen category)"
    )
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ColumnContract:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.categories is not None and self.type != "string":
            raise ValueError("categories apply to string columns only")
        return self


class TableContract(_Strict):
    """The rules of one table."""

    key: list[str] = Field(default_factory=list, description="columns that identify a row")
    min_rows: int = Field(1, ge=1)
    columns: dict[str, ColumnContract] = Field(min_length=1)

    @model_validator(mode="after")
    def _key_declared(self) -> TableContract:
        unknown = [k for k in self.key if k not in self.columns]
        if unknown:
            raise ValueError(f"key column(s) {', '.join(unknown)} are not declared under columns")
        return self


class Contract(_Strict):
    """A versioned data contract: one entry per raw table."""

    version: Literal[1] = CONTRACT_VERSION
    name: str
    description: str = ""
    tables: dict[str, TableContract] = Field(min_length=1)


def load_contract(path: Path | str) -> Contract:
    """Read and validate a contract file.

    Raises:
        ContractError: naming the file and the offending key.
    """
    path = Path(path)
    if not path.is_file():
        raise ContractError(
            f"{path}: no such contract; draft one with "
            "`tabstudy contract infer DATA_FILE --output " + str(path) + "`"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ContractError(f"{path}: not valid YAML: {err}") from None
    try:
        return Contract.model_validate(raw)
    except ValidationError as err:
        lines = [
            f"key '{'.'.join(str(p) for p in e['loc']) or '<top>'}': {e['msg']}"
            for e in err.errors()
        ]
        raise ContractError(f"{path}: invalid contract:\n  " + "\n  ".join(lines)) from None


def _number(value: float | None) -> float | int | None:
    return int(value) if value is not None and float(value).is_integer() else value


def _flow(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def dump_contract(contract: Contract, header: str = "") -> str:
    """The contract as YAML, one line per column, with an optional comment header."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    top = {"version": contract.version, "name": contract.name}
    if contract.description:
        top["description"] = contract.description
    lines.append(yaml.safe_dump(top, sort_keys=False, width=100).rstrip())
    lines.append("tables:")
    for name, table in contract.tables.items():
        lines += [f"  {name}:", f"    key: {_flow(table.key)}", f"    min_rows: {table.min_rows}"]
        lines.append("    columns:")
        for col_name, col in table.columns.items():
            rule = {"type": col.type, "nullable": col.nullable}
            for bound in ("min", "max"):
                if getattr(col, bound) is not None:
                    rule[bound] = _number(getattr(col, bound))
            if col.categories is not None:
                rule["categories"] = col.categories
            if col.description:
                rule["description"] = col.description
            lines.append(f"      {_flow(col_name)}: {_flow(rule)}")
    return "\n".join(lines) + "\n"


def column_type(series: pd.Series) -> ColumnType:
    """The contract type of a column as read (integral floats with nulls count as ``int``)."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna()
        return "int" if len(values) and (values == values.round()).all() else "float"
    return "string"


def infer_column(series: pd.Series, max_categories: int = MAX_CATEGORIES) -> ColumnContract:
    """A draft rule for one column from the values seen."""
    kind = column_type(series)
    values = series.dropna()
    lo = hi = None
    categories = None
    if kind in ("int", "float") and len(values):
        lo, hi = float(values.min()), float(values.max())
    if kind == "string":
        distinct = sorted(values.astype(str).unique().tolist())
        if len(distinct) <= max_categories:
            categories = distinct
    return ColumnContract(
        type=kind,
        nullable=bool(series.isna().any()),
        min=lo,
        max=hi,
        categories=categories,
    )


def infer_table(frame: pd.DataFrame, max_categories: int = MAX_CATEGORIES) -> TableContract:
    """A draft contract of a table: every column as seen; no key (a person declares it)."""
    return TableContract(
        key=[],
        min_rows=1,
        columns={str(c): infer_column(frame[c], max_categories) for c in frame.columns},
    )


def infer_contract(
    tables: dict[str, pd.DataFrame], name: str, max_categories: int = MAX_CATEGORIES
) -> Contract:
    """A draft contract over several tables."""
    return Contract(
        name=name,
        description=f"Draft inferred from {', '.join(tables)}; review every rule before use.",
        tables={t: infer_table(df, max_categories) for t, df in tables.items()},
    )


DRAFT_HEADER = """Data contract drafted by `tabstudy contract infer`.
Review before committing: ranges and categories are what this file held; tighten or widen them,
declare the table's unique key under `key`, and set `nullable: false` where a value is required.
Hard rules (stop the pipeline): missing column, wrong type, infinity, null where not nullable,
duplicated key, fewer than min_rows rows. Soft rules (reported, warn above the thresholds in
params.yaml `validate`): missing share, out-of-range share, unseen categories."""


def infer_main(
    file: Path,
    name: str | None = None,
    output: Path | None = None,
    delimiter: str = ",",
    max_categories: int | None = None,
    force: bool = False,
) -> int:
    """``tabstudy contract infer FILE``: draft a contract for a CSV or Parquet file, on stdout
    or into ``output`` (an existing one only with ``force``). Returns the exit status."""
    from tabstudy.data.readers import DataReadError, read_table_file

    try:
        frame = read_table_file(file, delimiter=delimiter)
    except DataReadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    name = name or file.stem
    found = infer_contract({name: frame}, name, max_categories or MAX_CATEGORIES)
    text = dump_contract(found, header=DRAFT_HEADER)
    if output is None:
        sys.stdout.write(text)
        return 0
    if output.exists() and not force:
        print(f"error: {output} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    artifacts.write_text(text, output)
    print(f"wrote draft contract {output} ({frame.shape[1]} columns); review it")
    return 0
