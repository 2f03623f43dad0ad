"""Batch scoring of a file of raw rows, in chunks: memory follows the chunk size, not the file.

:func:`score_file` reads a CSV or Parquet file with pyarrow, ``chunk_rows`` rows at a time
(``ParquetFile.iter_batches``; ``pyarrow.csv.open_csv``, every CSV column read as text, so no
later block can change a column's type and strings stay strings). Each chunk goes the way a
``/v1/predict/batch`` request goes: the study's one-row request model made columnar
(:func:`.schemas.columnar`) validates it (a CSV's text is parsed by the same pydantic rules as
the JSON of a request), the study's :class:`.OnlineFeatures` turn it into raw features, the
runtime into probabilities, the bundle's threshold into decisions. The answers are appended to
a Parquet file written under a temporary name beside the destination and renamed into place
only when every row was scored (:func:`tabstudy.artifacts.atomic_path`).

Bad input stops the run with the readers' :class:`~tabstudy.data.readers.DataReadError`,
naming the file, the row (a CSV's line), the column, the rule broken and the value; no output
file is left behind.

Output columns: the request model's key fields (``request_key``, as the service's rollout uses
them) or, when it declares none (a table study), every input column, as read (a CSV's number
and boolean fields as validated, so CSV and Parquet inputs give the same types); then
``probability``, ``decision`` (probability >= threshold), ``model_version``
(dictionary-encoded) and ``stale``: each row's online-store sources that have no data for its
prediction time (:mod:`.freshness`, the service's rule; an empty list when all are fresh).
The file's key-value metadata say which model answered, with which runtime and threshold, on
which input (:func:`file_metadata`).
"""

from __future__ import annotations

import codecs
import csv
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import NoneType
from typing import Any, Protocol, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError
from tqdm import tqdm

from tabstudy import artifacts
from tabstudy.data.readers import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    DataReadError,
    check_header,
)
from tabstudy.data.readers import check_columns as check_required
from tabstudy.serving import freshness, schemas
from tabstudy.serving.features import OnlineFeatures, RowError
from tabstudy.serving.runtime import Runtime

OUTPUT_COLUMNS: tuple[str, ...] = ("probability", "decision", "model_version", "stale")
SCALAR_TYPES: dict[Any, pa.DataType] = {int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
CSV_BLOCK_BYTES = 1 << 20
"""Bytes pyarrow parses at a time from a CSV (memory is this plus a chunk)."""
TEXT_NULLS: tuple[str, ...] = (*pacsv.ConvertOptions().null_values, "<NA>", "None")
"""CSV values read as missing: pandas' defaults (training reads a table with pandas)."""


class Scorer(Protocol):
    """The model that answers: :class:`tabstudy.serving.state.Variant` is one."""

    runtime: Runtime
    threshold: float
    version: str
    registry_version: str | None


@dataclass(frozen=True)
class Source:
    """An input file opened for streaming: its columns, its row count when the file says
    (Parquet), and ``read(columns)`` giving record batches of those columns."""

    path: Path
    names: list[str]
    rows: int | None
    is_csv: bool
    read: Callable[[list[str]], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class ScoreResult:
    """What a run did: rows scored, seconds taken, the output file and the input columns the
    model does not read (passed through or dropped, never validated)."""

    rows: int
    seconds: float
    output: Path
    ignored: tuple[str, ...]
    stale: dict[str, int] = field(default_factory=dict)
    """Rows scored with stale features, by source."""


def check_file(path: Path) -> None:
    """The file exists, is not empty and is CSV or Parquet by its suffix (the readers' rules).

    Raises:
        DataReadError: naming the file and the problem.
    """
    if not path.is_file():
        raise DataReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataReadError(f"{path}: the file is empty (0 bytes)")
    if path.suffix.lower() not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise DataReadError(f"{path}: unsupported file type {path.suffix!r}; use CSV or Parquet")


def open_source(path: Path, chunk_rows: int, delimiter: str = ",") -> Source:
    """``path`` (checked by :func:`check_file`) opened for streaming; nothing is read beyond
    the CSV header or the Parquet footer."""
    check_file(path)
    if path.suffix.lower() in CSV_SUFFIXES:
        return _csv_source(path, delimiter)
    return _parquet_source(path, chunk_rows)


def _utf8_error(path: Path) -> DataReadError:
    """The readers' message for text that is not UTF-8, found by decoding the file in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CSV_BLOCK_BYTES), b""):
            pending = len(decoder.getstate()[0])  # bytes of a character split by the block
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                start = offset - pending + err.start
                line = lines + block[: max(start - offset, 0)].count(b"\n") + 1
                return DataReadError(
                    f"{path}: not UTF-8 text: byte {err.object[err.start : err.start + 1]!r} "
                    f"at offset {start} (line {line}); re-save the file as UTF-8"
                )
            offset, lines = offset + len(block), lines + block.count(b"\n")
    return DataReadError(f"{path}: not UTF-8 text; re-save the file as UTF-8")


def _csv_header(path: Path, delimiter: str) -> list[str]:
    """The header line's column names, checked as the readers check them."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), [])
    except UnicodeDecodeError:
        raise _utf8_error(path) from None
    check_header(path, header, delimiter)
    return header


def _csv_error(path: Path, err: Exception, bad_rows: Sequence[Any]) -> DataReadError:
    """A pyarrow CSV failure as the readers would word it."""
    if bad_rows:
        row = bad_rows[0]
        return DataReadError(
            f"{path}: line {row.number}: {row.actual_columns} field(s) where the header has "
            f"{row.expected_columns}; example: {row.text[:80]!r}"
        )
    if "UTF8" in str(err):
        return _utf8_error(path)
    return DataReadError(f"{path}: not a well-formed CSV: {err}")


def _csv_source(path: Path, delimiter: str) -> Source:
    names = _csv_header(path, delimiter)

    def read(columns: list[str]) -> Iterator[pa.RecordBatch]:
        bad_rows: list[Any] = []

        def invalid(row: Any) -> str:
            bad_rows.append(row)
            return "error"

        try:
            yield from pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, include_columns=columns,
                    null_values=list(TEXT_NULLS), strings_can_be_null=True,
                ),
            )  # fmt: skip
        except (pa.ArrowInvalid, OSError) as err:
            raise _csv_error(path, err, bad_rows) from None

    return Source(path, names, None, True, read)


def _parquet_corrupt(path: Path, err: Exception) -> DataReadError:
    return DataReadError(f"{path}: not a readable Parquet file (truncated or corrupt): {err}")


def _parquet_source(path: Path, chunk_rows: int) -> Source:
    try:
        meta = pq.read_metadata(path)
        names = meta.schema.to_arrow_schema().names
    except (pa.ArrowInvalid, OSError) as err:
        raise _parquet_corrupt(path, err) from None
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataReadError(f"{path}: duplicated column name(s): {', '.join(dupes)}")

    def read(columns: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            with pq.ParquetFile(path) as parquet:
                yield from parquet.iter_batches(batch_size=chunk_rows, columns=columns)
        except (pa.ArrowInvalid, OSError) as err:
            raise _parquet_corrupt(path, err) from None

    return Source(path, names, meta.num_rows, False, read)


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The rows of ``batches`` in tables of exactly ``rows`` rows (the last one may be
    shorter), without copying; at most one chunk and one batch are held at a time."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def check_columns(source: Source, request_model: type[BaseModel]) -> None:
    """Every required field of the request model is a column of ``source`` (the readers'
    message otherwise), at least one field is, and no column would clash with an output
    column."""
    fields = request_model.model_fields
    required = [n for n, f in fields.items() if f.is_required()]
    check_required(source.path, pd.DataFrame(columns=source.names), required)
    if not any(n in fields for n in source.names):
        present = ", ".join(source.names[:8])
        raise DataReadError(
            f"{source.path}: none of the model's columns ({', '.join(fields)}) is in the file; "
            f"present: {present}"
        )
    clash = [n for n in kept_columns(source.names, request_model) if n in OUTPUT_COLUMNS]
    if clash:
        raise DataReadError(
            f"{source.path}: column(s) {', '.join(clash)} would clash with the output's "
            f"columns ({', '.join(OUTPUT_COLUMNS)}); rename them"
        )


def kept_columns(names: Sequence[str], request_model: type[BaseModel]) -> list[str]:
    """The input columns the output keeps: the request key fields, else every column."""
    key = getattr(request_model, "request_key", ())
    return [n for n in names if n in key] if key else list(names)


def _where(source: Source, row: int) -> str:
    """Row ``row`` (0-based, in the file) as a person finds it: a CSV's line, a table's row."""
    return f"line {row + 2}" if source.is_csv else f"row {row + 1}"


def _bad_value(source: Source, row: int, field: str, rule: str, value: Any) -> DataReadError:
    return DataReadError(
        f"{source.path}: {_where(source, row)}, column {field!r}: {rule}; example: {value!r}"
    )


def validate_chunk(
    source: Source, batch_model: type[BaseModel], chunk: pa.Table, start: int
) -> dict[str, list[Any]]:
    """The chunk's request fields, validated as the batch endpoint validates a request.

    Args:
        source: where the chunk comes from (named in errors).
        batch_model: the columnar request model (:func:`.schemas.columnar`).
        chunk: the rows; columns the model does not know are ignored.
        start: the file row of the chunk's first row (0-based).

    Raises:
        DataReadError: naming the file row, the column, the rule and the value of the first
            bad row, and how many rows of the chunk break a rule.
    """
    fields = [n for n in chunk.column_names if n in batch_model.model_fields]
    try:
        valid = batch_model.model_validate(
            {n: chunk.column(n).to_pylist() for n in fields}, context={schemas.FROM_TEXT: True}
        )
    except ValidationError as err:
        errors = err.errors(include_url=False)
        loc = errors[0]["loc"]
        field = str(loc[0]) if loc else ", ".join(fields)
        row = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
        bad = _bad_value(source, start + row, field, errors[0]["msg"], errors[0].get("input"))
        rows = {e["loc"][1] for e in errors if len(e["loc"]) > 1}
        more = f" ({len(rows)} rows of this chunk break a rule)" if len(rows) > 1 else ""
        raise DataReadError(f"{bad}{more}") from None
    return valid.columns()  # type: ignore[attr-defined]


def predict_chunk(
    source: Source, online: OnlineFeatures, model: Scorer, columns: Mapping[str, list[Any]],
    start: int,
) -> np.ndarray:  # fmt: skip
    """Probabilities of validated rows: the study's features, then the runtime.

    Raises:
        DataReadError: a row the features refuse (:class:`.RowError`), named as in the file.
    """
    try:
        features = online.features(columns)
    except RowError as err:
        value = columns.get(err.field, [None] * (err.row + 1))[err.row]
        raise _bad_value(source, start + err.row, err.field, str(err), value) from None
    return np.asarray(model.runtime.predict(features), dtype="float64").reshape(-1)


def typed_fields(request_model: type[BaseModel]) -> dict[str, pa.DataType]:
    """The request fields that hold a plain number or boolean (optional or not), with their
    Arrow type: a CSV's text in these columns is written as validated, as a Parquet file's
    typed columns are (``"0042"`` becomes 42)."""
    out = {}
    for name, info in request_model.model_fields.items():
        kinds = [a for a in get_args(info.annotation) or (info.annotation,) if a is not NoneType]
        if len(kinds) == 1 and kinds[0] in SCALAR_TYPES:
            out[name] = SCALAR_TYPES[kinds[0]]
    return out


def output_table(
    chunk: pa.Table, keep: Sequence[str], probabilities: np.ndarray, model: Scorer,
    typed: Mapping[str, tuple[pa.DataType, list[Any]]] | None = None,
    stale: list[list[str]] | None = None,
) -> pa.Table:  # fmt: skip
    """The output rows of one chunk: the kept input columns (those in ``typed`` replaced by
    their validated values), probability, decision and the model version (dictionary-encoded:
    one value, stored once per page)."""
    n = len(probabilities)
    version = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype="int32")), pa.array([model.version])
    )
    out = chunk.select(list(keep))
    for name, (kind, values) in (typed or {}).items():
        if name in out.column_names:
            out = out.set_column(out.column_names.index(name), name, pa.array(values, kind))
    out = out.append_column("probability", pa.array(probabilities, pa.float64()))
    out = out.append_column("decision", pa.array(probabilities >= model.threshold, pa.bool_()))
    out = out.append_column("model_version", version)
    stale_rows = stale if stale is not None else [[] for _ in range(n)]
    out = out.append_column("stale", pa.array(stale_rows, pa.list_(pa.string())))
    return out.replace_schema_metadata(None)


def file_metadata(
    source: Path, model: Scorer, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The output's key-value metadata: which model answered (version, registry version,
    empty when unregistered; runtime; threshold) and on which input (name, bytes, SHA-256)."""
    return {
        "model_version": model.version,
        "registry_version": model.registry_version or "",
        "runtime": model.runtime.name,
        "threshold": repr(float(model.threshold)),
        "input_file": source.name,
        "input_bytes": str(source.stat().st_size),
        "input_sha256": artifacts.sha256_file(source),
        **dict(extra or {}),
    }


def _empty(source: Source) -> DataReadError:
    return DataReadError(
        f"{source.path}: header only, no data rows (columns: {', '.join(source.names)})"
    )


def scored_chunks(
    source: Source, online: OnlineFeatures, model: Scorer, chunk_rows: int,
    sources: Sequence[freshness.Source] = (), counts: dict[str, int] | None = None,
) -> Iterator[pa.Table]:  # fmt: skip
    """The output table of each chunk of ``source`` (checked by :func:`check_columns`), in
    file order: validated, featurised, scored, its rows' stale ``sources`` named (and counted
    in ``counts``; see the module docstring)."""
    request_model = online.request_model
    keep = kept_columns(source.names, request_model)
    typed = typed_fields(request_model) if source.is_csv else {}
    needed = set(keep) | set(request_model.model_fields)
    batch_model = schemas.columnar(request_model, chunk_rows)
    start = 0
    for chunk in rechunk(source.read([n for n in source.names if n in needed]), chunk_rows):
        valid = validate_chunk(source, batch_model, chunk, start)
        stale = freshness.check(tuple(sources), online.prediction_times(valid))
        probabilities = predict_chunk(source, online, model, valid, start)
        retyped = {n: (kind, valid[n]) for n, kind in typed.items() if n in valid}
        for name, mask in stale.items():
            if counts is not None:
                counts[name] = counts.get(name, 0) + int(mask.sum())
        rows = freshness.per_row(stale, chunk.num_rows)
        yield output_table(chunk, keep, probabilities, model, retyped, rows)
        start += chunk.num_rows


def score_file(
    path: Path,
    dest: Path,
    online: OnlineFeatures,
    model: Scorer,
    chunk_rows: int,
    delimiter: str = ",",
    progress: bool = False,
    metadata: Mapping[str, str] | None = None,
    sources: Sequence[freshness.Source] = (),
) -> ScoreResult:
    """Score every row of the CSV or Parquet file ``path`` into the Parquet file ``dest``.

    Args:
        path: the input: the request model's fields as columns (other columns are kept for a
            table study, dropped otherwise, and never validated).
        dest: the output file (replaced only when every row was scored).
        online: the study's request-time features.
        model: the runtime, threshold and versions that answer.
        chunk_rows: rows read, validated, featurised and scored at a time.
        delimiter: a CSV's field separator.
        progress: show a progress bar (rows) on stderr.
        metadata: more key-value metadata for the output (e.g. the bundle's digest).
        sources: the online store's event sources and their limits (:func:`.freshness.sources`):
            rows past them get their names in ``stale``.

    Raises:
        DataReadError: bad input (see the module docstring); ``dest`` is left as it was.
    """
    began = time.perf_counter()
    source = open_source(Path(path), chunk_rows, delimiter)
    check_columns(source, online.request_model)
    if source.rows == 0:
        raise _empty(source)
    meta = file_metadata(source.path, model, metadata)
    rows = 0
    counts: dict[str, int] = {}
    writer: pq.ParquetWriter | None = None  # opened with the first chunk's schema
    bar = tqdm(total=source.rows, unit="rows", unit_scale=True, file=sys.stderr,
               disable=not progress, desc=source.path.name)  # fmt: skip
    with bar, artifacts.atomic_path(Path(dest), suffix=".parquet") as tmp:
        try:
            for table in scored_chunks(source, online, model, chunk_rows, sources, counts):
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema.with_metadata(meta))
                writer.write_table(table)
                rows += table.num_rows
                bar.update(table.num_rows)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise _empty(source)
    ignored = tuple(n for n in source.names if n not in online.request_model.model_fields)
    return ScoreResult(rows, time.perf_counter() - began, Path(dest), ignored, counts)
