"""The online store's file: an embedded SQLite database under ``data/online/`` (no server).

A study writes its tables into it (:func:`build`, atomically: a half-built store never replaces a
good one) with a ``meta`` table that records what it was built for: the study, the feature
parameters, the bundle (SHA-256 of its ``metadata.json``, which lists every file's hash) and the
watermark of every event table. The service refuses a store built for another bundle
(:func:`check_bundle`); appends refuse events older than a watermark unless told to backfill
(:func:`check_watermark`), the late-arriving-value trap of Feast #6615.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tabstudy import artifacts, paths

META = "meta"
MISSING = "no online store here; run the materialize stage (dvc repro)"


class StoreError(ValueError):
    """The online store is missing, was built for another bundle, or refuses an append."""


def bundle_digest(bundle_dir: Path) -> str:
    """What a store is built for: the SHA-256 of the bundle's ``metadata.json``."""
    return hashlib.sha256((Path(bundle_dir) / "metadata.json").read_bytes()).hexdigest()


def write_table(con: sqlite3.Connection, name: str, frame: pd.DataFrame, key: list[str]) -> None:
    """Create table ``name`` from ``frame`` with primary key ``key`` (no rowid: lookups by key
    are one B-tree search)."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    con.execute(f'CREATE TABLE "{name}" ({columns}, PRIMARY KEY ({", ".join(key)})) WITHOUT ROWID')
    append_rows(con, name, frame)


def append_rows(con: sqlite3.Connection, name: str, frame: pd.DataFrame) -> None:
    """Insert ``frame``'s rows into table ``name`` (``NaN`` as ``NULL``)."""
    marks = ", ".join("?" for _ in frame.columns)
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    con.executemany(f'INSERT OR REPLACE INTO "{name}" VALUES ({marks})', rows)


def write_meta(con: sqlite3.Connection, meta: Mapping[str, Any]) -> None:
    """Replace the ``meta`` table's values (JSON-encoded)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT)")
    con.executemany(
        f"INSERT OR REPLACE INTO {META} VALUES (?, ?)",
        [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()],
    )


def build(path: Path, fill: Callable[[sqlite3.Connection], None]) -> None:
    """Build a store at ``path`` with ``fill(connection)``: written beside it, then renamed, so
    a failed build leaves the last good store in place."""
    with artifacts.atomic_path(path, ".sqlite", staged=False) as tmp:
        con = sqlite3.connect(tmp)
        try:
            fill(con)
            con.commit()
        finally:
            con.close()


@contextlib.contextmanager
def writing(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to an existing store for an incremental update, in one transaction: all of
    it lands or none (SQLite's journal)."""
    if not Path(path).is_file():
        raise StoreError(
            f"{paths.rel(Path(path))}: no online store here; run the materialize stage"
        )
    con = sqlite3.connect(path)
    try:
        with con:
            yield con
    finally:
        con.close()


def read_meta(path: Path) -> dict[str, Any]:
    """The store's ``meta`` values; :class:`StoreError` naming the file when it is missing or
    not a store."""
    if not Path(path).is_file():
        raise StoreError(
            f"{paths.rel(Path(path))}: no online store here; run the materialize stage"
        )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            rows = con.execute(f"SELECT key, value FROM {META}").fetchall()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{paths.rel(Path(path))}: not an online store ({err})") from None
    return {k: json.loads(v) for k, v in rows}


def read_table(path: Path, name: str) -> pd.DataFrame:
    """A whole table of the store (read-only connection)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        return pd.read_sql_query(f'SELECT * FROM "{name}"', con)


def check_bundle(meta: Mapping[str, Any], digest: str, path: Path) -> None:
    """Refuse a store built for another bundle, naming the store file."""
    if meta.get("bundle_sha256") != digest:
        raise StoreError(
            f"{paths.rel(Path(path))}: built for bundle {str(meta.get('bundle_sha256'))[:12]}, "
            f"but the bundle to serve is {digest[:12]}; run the materialize stage (dvc repro)"
        )


def check_watermark(table: str, times: pd.Series, watermark: int | None, backfill: bool) -> None:
    """Refuse events older than the store's newest of that table unless ``backfill``: they
    would change features already served for earlier prediction times."""
    if backfill or watermark is None or times.empty:
        return
    older = times < watermark
    if older.any():
        first = pd.Timestamp(int(times[older].min()), unit="s", tz="UTC")
        mark = pd.Timestamp(int(watermark), unit="s", tz="UTC")
        raise StoreError(
            f"{int(older.sum())} {table} event(s) are older than the store's newest ({mark}); "
            f"the oldest is at {first}. Appending them would change features already served "
            "for earlier prediction times (late-arriving data); pass backfill to insert them"
        )
