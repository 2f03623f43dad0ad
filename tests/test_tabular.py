"""Generic features for your own table: the label, inferred columns, and both kinds of split."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tabstudy.spec import LABEL, MISSING_CATEGORY, ColumnError, about_column
from tabstudy.studies.table import config as table_config
from tabstudy.studies.table import features as tabular
from tabstudy.studies.table.features import FeatureConfigError


def _features(**kw: object) -> table_config.TableFeatures:
    base: dict[str, object] = {
        "time_column": None,
        "categorical": None,
        "numeric": None,
        "exclude": [],
        "valid_frac": 0.15,
        "test_frac": 0.15,
        "slices": [],
        "reference_bins": 10,
        "leakage_auc": 0.98,
        "allow_leaky": {},
    }
    return table_config.TableFeatures(**{**base, **kw})


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer id": [f"c{i}" for i in range(n)],
            "plan": rng.choice(["basic", "pro", None], n),
            "monthly spend": rng.gamma(2.0, 30.0, n),
            "tenure": rng.integers(1, 60, n),
            "signed_up": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "churned": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )


def test_labels_text_and_numeric() -> None:
    frame = pd.DataFrame({"t": ["yes", "no", None], "n": [1.0, 0.0, np.nan]})
    pd.testing.assert_series_equal(
        tabular.labels(frame, "t", "yes", "f.csv"), pd.Series([1.0, 0.0, np.nan], name="t")
    )
    assert tabular.labels(frame, "n", 1, "f.csv").tolist()[:2] == [1.0, 0.0]
    with pytest.raises(FeatureConfigError, match=r"f\.csv: target column 'zz' .* not found"):
        tabular.labels(frame, "zz", 1, "f.csv")
    with pytest.raises(
        FeatureConfigError,
        match=r"no row of column 't' equals the positive value 'maybe' .* holds 'yes' \(1\), "
        r"'no' \(1\); 1 missing",
    ):
        tabular.labels(frame, "t", "maybe", "f.csv")


def test_a_wrong_target_column_lists_every_column_closest_first() -> None:
    frame = pd.DataFrame({f"c{i}": [0] for i in range(12)} | {"churned": ["yes"]})
    with pytest.raises(FeatureConfigError) as err:
        tabular.labels(frame, "churn", "yes", "f.csv")
    message = str(err.value)
    assert "closest: ['churned']" in message and "all 13 columns" in message
    assert "'c11'" in message  # every column, not the first few


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        (["yes", "no", "yes"], "yes", [1, 0, 1]),  # YAML 1.2 reads `yes` as the string
        (["yes", "no", "yes"], "no", [0, 1, 0]),
        (["on", "off", "on"], "on", [1, 0, 1]),
        (["Y", "N", "N"], "Y", [1, 0, 0]),
        ([1, 0, 1], 1, [1, 0, 1]),
        (["1", "0", "1"], 1, [1, 0, 1]),  # text digits against a number
        ([1.0, 0.0, 1.0], "1", [1, 0, 1]),  # a number against text
        ([True, False, True], True, [1, 0, 1]),
        (["true", "false", "false"], True, [1, 0, 0]),  # a bool against its text
        (["TRUE", "FALSE", "TRUE"], True, [1, 0, 1]),
    ],
)
def test_positive_value_compares_as_text(values, positive, expected) -> None:
    assert tabular.positive_mask(pd.Series(values), positive).tolist() == expected


def test_inferred_columns_skip_ids_target_and_time() -> None:
    cats, nums = tabular.infer_columns(
        _table(), "churned", _features(time_column="signed_up"), "f.csv"
    )
    assert cats == ["plan"] and nums == ["monthly spend", "tenure"]  # 'customer id' is an id


def test_declared_columns_and_unknown_names() -> None:
    cfg = _features(categorical=["tenure"], numeric=["monthly spend"], exclude=["customer id"])
    assert tabular.infer_columns(_table(), "churned", cfg, "f.csv") == (
        ["tenure"],
        ["monthly spend"],
    )
    with pytest.raises(FeatureConfigError, match=r"'nope' named in params\.yaml features"):
        tabular.infer_columns(_table(), "churned", _features(slices=["nope"]), "f.csv")


def test_build_gives_safe_names_clean_types_and_spec() -> None:
    target = table_config.FileTarget(column="churned", positive="yes")
    frame, spec = tabular.build(_table(), target, _features(slices=["plan"]), "f.csv")
    # the id column ("customer id", unique per row) is left out; names are made input-safe
    assert spec.categorical() == ["plan"] and spec.numeric() == ["monthly_spend", "tenure"]
    assert spec.slices == ("plan",)
    assert MISSING_CATEGORY in set(frame["plan"]) and frame["tenure"].dtype == "float64"
    assert set(frame[LABEL]) == {0, 1}


def test_stratified_split_keeps_the_rate_and_is_seeded() -> None:
    target = table_config.FileTarget(column="churned", positive="yes")
    frame, _ = tabular.build(_table(1000), target, _features(), "f.csv")
    parts = tabular.split(frame, 0.15, 0.15, seed=3, ordered=False)
    assert [len(p) for p in parts.values()] == [700, 150, 150]
    rate = frame[LABEL].mean()
    assert all(abs(p[LABEL].mean() - rate) < 0.01 for p in parts.values())
    again = tabular.split(frame, 0.15, 0.15, seed=3, ordered=False)
    assert all(parts[k].equals(again[k]) for k in parts)


def test_time_split_is_ordered() -> None:
    target = table_config.FileTarget(column="churned", positive="yes")
    shuffled = _table(400).sample(frac=1.0, random_state=1)
    frame, _ = tabular.build(shuffled, target, _features(time_column="signed_up"), "f.csv")
    parts = tabular.split(frame, 0.2, 0.2, seed=0, ordered=True)
    t = {k: p[tabular.SPLIT_TIME] for k, p in parts.items()}
    assert t["train"].max() < t["valid"].min() and t["valid"].max() < t["test"].min()
    assert [len(p) for p in parts.values()] == [240, 80, 80]


def test_single_class_split_is_refused() -> None:
    frame = pd.DataFrame({"x": np.arange(20.0), LABEL: [1] + [0] * 19})
    with pytest.raises(FeatureConfigError, match="rarer class has 1 row"):
        tabular.split(frame, 0.2, 0.2, seed=0, ordered=False)


def test_text_declared_numeric_stops_naming_the_column_and_an_example() -> None:
    frame = _table()
    frame.loc[7, "plan"] = "pro"  # a text column declared numeric
    cfg = _features(numeric=["plan", "tenure"], categorical=[])
    with pytest.raises(ColumnError) as err:
        tabular.build(
            frame,
            table_config.FileTarget(column="churned", positive="yes"),
            cfg,
            "external/churn.csv",
        )
    text = str(err.value)
    assert "external/churn.csv: column 'plan' is a numeric feature" in text
    assert re.search(r"\(e\.g\. row \d+: '(basic|pro)'\)", text) and "features.categorical" in text
    # text that holds numbers is read as numbers
    parsed = tabular.numeric_column(pd.Series(["1.5", None, "2"]), "x", "f.csv")
    assert parsed.dtype == "float64" and parsed.isna().tolist() == [False, True, False]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([1.5, 2.0]), "column 'when' holds numbers, not dates (e.g. row 0: 1.5)"),
        (pd.Series(["2021-01-01", None, "soon"]),
         "1 value(s) that are not dates in the first value's format, nor ISO 8601 (e.g. row 2: "
         "'soon')"),
    ],
)  # fmt: skip
def test_a_time_column_that_is_not_dates_is_refused_by_name(values, expected) -> None:
    with pytest.raises(ColumnError, match=r"features\.time_column must name") as err:
        tabular.time_column(values, "when", "f.csv")
    assert expected in str(err.value)


def test_ambiguous_or_mixed_zone_dates_are_refused_never_read_two_ways() -> None:
    day_first = pd.Series(["01/02/2021", "05/03/2021", "13/01/2021", "14/02/2021"])
    with pytest.raises(ColumnError, match=r"2 value\(s\) .* \(e\.g\. row 2: '13/01/2021'\)"):
        tabular.time_column(day_first, "when", "f.csv")
    zones = pd.Series(["2021-01-01T10:00+01:00", "2021-01-01T10:00+02:00"])
    with pytest.raises(ColumnError, match="of column 'when' failed: ValueError: Mixed timezones"):
        tabular.time_column(zones, "when", "f.csv")


def test_blank_text_is_missing_not_an_error() -> None:
    assert tabular.numeric_column(pd.Series(["1", " ", ""]), "x", "f.csv").isna().tolist() == [
        False, True, True]  # fmt: skip
    when = tabular.time_column(pd.Series(["2021-01-01", "", None]), "t", "f.csv")
    assert when.isna().tolist() == [False, True, True]


def test_a_time_column_in_mixed_date_forms_parses() -> None:
    when = tabular.time_column(pd.Series(["2021-01-01", "2021-01-02 10:30", None]), "t", "f.csv")
    assert when.tolist()[:2] == [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-01-02 10:30")]
    assert pd.isna(when.iloc[2])


def test_about_column_names_the_step_and_column_once() -> None:
    outer, inner = about_column("outer", "Outer step"), about_column("inner", "Inner step")
    with pytest.raises(ColumnError) as err, outer, inner:
        float("abc")
    assert str(err.value).startswith("Inner step of column 'inner' failed: ValueError: could")
    assert "outer" not in str(err.value)


def test_later_stages_name_the_column_they_fail_on() -> None:
    """The per-column steps after the features stage (LightGBM's input, drift tests, slices)
    name the column when its values break them."""
    from tabstudy import evaluation
    from tabstudy.models.baselines import LgbmFrame
    from tabstudy.monitoring import windows

    good = pd.DataFrame({"plan": ["a", "b", "a"], "spend": [1.0, 2.0, 3.0]})
    bad = good.assign(spend=["1", "lots", "3"])
    lgbm = LgbmFrame(("plan",), ("spend",)).fit(good)
    with pytest.raises(ColumnError, match="LightGBM's numeric input of column 'spend'"):
        lgbm.transform(bad)
    with pytest.raises(ColumnError, match="drift test \\(numeric\\) of column 'spend'"):
        windows.feature_tests(good, bad, ["plan"], ["spend"], 2)
    both_infinities = pd.Series([-np.inf, np.inf] * 10 + list(range(20)), dtype="float64")
    with pytest.raises(ColumnError, match="Slicing the test rows by values of column 'when'"):
        evaluation.slices.slice_table(
            pd.DataFrame({"when": both_infinities}), np.arange(40) % 2, {}, ["when"]
        )
