"""Read a user's CSV or Parquet table with errors that say what is wrong and where.

Every failure raises :class:`DataReadError` naming the file and, where it applies, the line,
column and an example of the offending value: missing or empty files, header-only files, bytes
that are not UTF-8, a wrong delimiter, truncated or ragged CSV rows, truncated or corrupt Parquet,
duplicated column names, missing columns. Type, range, infinity and key rules are the data
contract's job (:mod:`tabstudy.data.schema`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
OTHER_DELIMITERS = (";", "\t", "|")


class DataReadError(ValueError):
    """A data file cannot be read as a table; the message names the file and the problem."""


def read_table_file(
    path: Path | str, required: Iterable[str] = (), delimiter: str = ","
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, refusing anything malformed.

    Args:
        path: the file; its suffix picks the format.
        required: columns that must be present.
        delimiter: CSV field separator.

    Raises:
        DataReadError: with the file, the rule broken and an example.
    """
    path = Path(path)
    if not path.is_file():
        raise DataReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataReadError(f"{path}: the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        frame = _read_csv(path, delimiter)
    elif suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
    else:
        raise DataReadError(f"{path}: unsupported file type {suffix!r}; use CSV or Parquet")
    check_columns(path, frame, required)
    if frame.empty:
        raise DataReadError(
            f"{path}: header only, no data rows (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        bad = raw[err.start : err.start + 4]
        raise DataReadError(
            f"{path}: not UTF-8 text: byte {bad[:1]!r} at offset {err.start} (line {line}); "
            "re-save the file as UTF-8"
        ) from None


def _read_csv(path: Path, delimiter: str) -> pd.DataFrame:
    text = _decode(path)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = rows[0] if rows else []
    check_header(path, header, delimiter)
    for number, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(header):
            where = (
                "last line, the file looks truncated" if number == len(rows) else f"line {number}"
            )
            raise DataReadError(
                f"{path}: {where}: {len(row)} field(s) where the header has {len(header)}; "
                f"example: {delimiter.join(row)[:80]!r}"
            )
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter)
    except (pd.errors.ParserError, csv.Error) as err:
        raise DataReadError(f"{path}: not a well-formed CSV: {err}") from None


def check_header(path: Path, header: list[str], delimiter: str) -> None:
    if not header:
        raise DataReadError(f"{path}: no header line")
    if len(header) == 1:
        for other in OTHER_DELIMITERS:
            if other != delimiter and other in header[0]:
                raise DataReadError(
                    f"{path}: found one column {header[0][:60]!r}; the file seems to use "
                    f"{other!r} as delimiter, not {delimiter!r}"
                )
    seen: set[str] = set()
    dupes = [h for h in header if h in seen or seen.add(h)]
    if dupes:
        raise DataReadError(f"{path}: duplicated column name(s): {', '.join(sorted(set(dupes)))}")


def _read_parquet(path: Path) -> pd.DataFrame:
    def corrupt(err: Exception) -> DataReadError:
        return DataReadError(f"{path}: not a readable Parquet file (truncated or corrupt): {err}")

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise corrupt(err) from None
    names = parquet.schema_arrow.names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataReadError(f"{path}: duplicated column name(s): {', '.join(dupes)}")
    try:
        return parquet.read().to_pandas()
    except (pa.ArrowInvalid, OSError) as err:
        raise corrupt(err) from None


def check_columns(path: Path, frame: pd.DataFrame, required: Iterable[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        present = ", ".join(map(str, list(frame.columns)[:8]))
        raise DataReadError(f"{path}: missing column(s) {', '.join(missing)}; present: {present}")
