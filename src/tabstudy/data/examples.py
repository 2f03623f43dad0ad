"""Example tables for the bring-your-own-data path, written from data that packages ship.

``python -m tabstudy.data.examples breast_cancer external/breast_cancer.csv`` writes
scikit-learn's copy of the Wisconsin diagnostic breast cancer data (569 rows, 30 numeric
measurements) as a plain CSV: column names in snake_case and the target as a ``diagnosis``
column holding ``malignant`` or ``benign``. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tabstudy import artifacts
from tabstudy.spec import safe_name


def snake_case(name: str) -> str:
    """``'mean radius'`` -> ``'mean_radius'`` (the input names the pipeline would give it)."""
    return safe_name(name).lower()


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's breast cancer data with a readable ``diagnosis`` target column."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=snake_case)
    names = dict(enumerate(bunch.target_names))
    frame["diagnosis"] = bunch.target.map(names).astype(str)
    return frame


EXAMPLES: dict[str, Callable[[], pd.DataFrame]] = {"breast_cancer": breast_cancer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tabstudy.data.examples")
    parser.add_argument("name", choices=sorted(EXAMPLES))
    parser.add_argument("output", type=Path, help="CSV file to write")
    args = parser.parse_args(argv)
    frame = EXAMPLES[args.name]()
    artifacts.write_csv(frame, args.output)
    print(f"wrote {args.output}: {len(frame)} rows, {frame.shape[1]} columns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
