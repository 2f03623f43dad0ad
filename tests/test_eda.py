"""EDA summaries and findings, on a hand-made table where the answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabstudy import eda, evaluation, studies
from tabstudy.studies.table import config as table_config


def _study(**own: object) -> eda.EdaFrame:
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
            **own,
        }
    )
    return studies.get("file").eda_frame(
        {"orders": raw},
        table_config.FileData(
            source="file", path="external/orders.csv", delimiter=",", sample_frac=1
        ),
        table_config.FileTarget(column="late", positive="y"),
        table_config.TableFeatures(
            time_column="when",
            categorical=None,
            numeric=None,
            exclude=[],
            valid_frac=0.15,
            test_frac=0.15,
            slices=[],
            reference_bins=10,
            leakage_auc=0.98,
            allow_leaky={},
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
    table = evaluation.slices.slice_table(
        frame, y, {"m": frame["size"].to_numpy()}, ["size", "kind"]
    )
    assert (table["slice"] == "size").sum() == 4 and table.loc[
        table["slice"] == "size", "rows"
    ].sum() == n
    kind_b = table[(table["slice"] == "kind") & (table["value"] == "b")].iloc[0]
    assert kind_b["rows"] == 10 and np.isnan(kind_b["auc_m"])


def test_a_tables_own_calendar_columns_are_never_overwritten() -> None:
    """A table with its own numeric weekday, month and hour: EDA's derived columns get other
    names, the table's values stay, and every summary runs on both."""
    rows = 400
    own = {"weekday": np.arange(rows) % 5 + 0.5, "month": np.arange(rows) % 3,
           "hour": np.linspace(0, 1, rows)}  # fmt: skip
    study = _study(**own)
    assert study.time_groups == ["month of when", "weekday of when", "hour of when"]
    for column, values in own.items():
        assert np.array_equal(study.frame[column].to_numpy(), values), column
    assert {"weekday", "month", "hour"} <= set(study.numeric)
    by_day = eda.rate_by(study.frame, "weekday of when")
    assert list(by_day.index) == list(eda.WEEKDAYS)
    related = eda.relations(study.frame, study.numeric)
    assert "weekday" in related.columns
    eda.histograms(study.frame, study.distributions)


def test_calendar_columns_equal_to_the_derived_ones_keep_their_names() -> None:
    when = pd.Series(pd.date_range("2021-01-04", periods=30, freq="5h"))
    frame = pd.DataFrame({"month": when.dt.month, "hour": when.dt.hour.astype("int64")})
    out, names = eda.add_calendar(frame, when, "departure")
    assert names == ["month", "weekday", "hour"]
    frame["hour"] = 7
    out, names = eda.add_calendar(frame.assign(**{"hour of departure": 1}), when, "departure")
    assert names == ["month", "weekday", "hour of departure'"] and (out["hour"] == 7).all()


def test_a_failing_summary_names_its_column() -> None:
    frame = pd.DataFrame({"y": [0, 1] * 10, "odd": [[1], [2]] * 10})
    try:
        eda.rate_by(frame, "odd")
    except eda.EdaColumnError as err:
        assert "column 'odd'" in str(err) and "features.categorical" in str(err)
    else:
        raise AssertionError("no error")


def test_an_imbalanced_target_is_called_so() -> None:
    study = _study()
    rare = study.frame.assign(**{eda.TARGET: (np.arange(len(study.frame)) % 20 == 0).astype(int)})
    found = eda.findings(eda.EdaFrame(rare, "late"), {}, pd.DataFrame(), pd.DataFrame())
    assert found[1].startswith("The target is imbalanced (5.0% positive, below 10%)")
    assert "PR AUC" in found[1] and "train.class_weight: balanced" in found[1]
    assert not any(
        "imbalanced" in f for f in eda.findings(study, {}, pd.DataFrame(), pd.DataFrame())
    )
