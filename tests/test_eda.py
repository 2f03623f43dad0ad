"""EDA summaries and findings, on a hand-made table where the answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabstudy import config, eda, evaluation, studies


def _study() -> eda.EdaFrame:
    rows = 400
    when = pd.Series(pd.date_range("2021-01-04", periods=rows, freq="7h"))
    raw = pd.DataFrame(
        {
            "when": when.astype(str),
            "shop": np.where(np.arange(rows) % 2 == 0, "north", "south"),
            "basket": np.arange(rows, dtype=float),
            "late": np.where(
                (np.arange(rows) % 2 == 1) | (when.dt.weekday.to_numpy() == 6), "y", "n"
            ),
        }
    )
    return studies.get("file").eda_frame(
        {"orders": raw},
        config.FileData(source="file", path="external/orders.csv", delimiter=",", sample_frac=1),
        config.FileTarget(column="late", positive="y"),
        config.TableFeatures(
            time_column="when",
            categorical=None,
            numeric=None,
            exclude=[],
            valid_frac=0.15,
            test_frac=0.15,
            slices=[],
            reference_bins=10,
        ),
    )


def test_study_frame_of_a_file_source() -> None:
    study = _study()
    assert study.groups == ["shop"] and study.numeric == ["basket"]
    assert study.time_groups == ["month", "weekday", "hour"]
    assert study.notes == {"rows": 400, "target_missing": 0}


def test_rates_by_group_and_weekday() -> None:
    study = _study()
    by_shop = eda.rate_by(study.frame, "shop")
    assert by_shop.loc["south", "rate"] == 1.0 and by_shop["rows"].sum() == 400
    by_day = eda.rate_by(study.frame, "weekday")
    assert list(by_day.index) == list(eda.WEEKDAYS)  # ordered Mon..Sun
    assert by_day.loc["Sun", "rate"] == 1.0 and by_day.loc["Mon", "rate"] < 1.0


def test_findings_are_drawn_from_the_tables() -> None:
    study = _study()
    groups = {c: eda.rate_by(study.frame, c) for c in ("weekday", "shop")}
    found = eda.findings(study, groups, eda.relations(study.frame, study.numeric), pd.DataFrame())
    rate = study.frame[eda.TARGET].mean()
    assert found[0] == f"{rate:.1%} of 400 labelled rows are positive (late = y)."
    assert any(f.startswith("By shop, the rate ranges from") and "(shop south)" in f for f in found)
    assert any("(weekday Sun)" in f for f in found)


def test_slice_table_bins_numeric_columns_and_skips_tiny_slices() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"size": rng.normal(size=n), "kind": ["a"] * 390 + ["b"] * 10})
    y = (frame["size"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    table = evaluation.slice_table(frame, y, {"m": frame["size"].to_numpy()}, ["size", "kind"])
    assert (table["slice"] == "size").sum() == 4 and table.loc[
        table["slice"] == "size", "rows"
    ].sum() == n
    kind_b = table[(table["slice"] == "kind") & (table["value"] == "b")].iloc[0]
    assert kind_b["rows"] == 10 and np.isnan(kind_b["auc_m"])
