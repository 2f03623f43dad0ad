"""Generic features for your own table: the label, inferred columns, and both kinds of split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy import config
from tabstudy.spec import LABEL, MISSING_CATEGORY
from tabstudy.studies.table import features as tabular
from tabstudy.studies.table.features import FeatureConfigError


def _features(**kw: object) -> config.TableFeatures:
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
    return config.TableFeatures(**{**base, **kw})


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
    target = config.FileTarget(column="churned", positive="yes")
    frame, spec = tabular.build(_table(), target, _features(slices=["plan"]), "f.csv")
    # the id column ("customer id", unique per row) is left out; names are made input-safe
    assert spec.categorical() == ["plan"] and spec.numeric() == ["monthly_spend", "tenure"]
    assert spec.slices == ("plan",)
    assert MISSING_CATEGORY in set(frame["plan"]) and frame["tenure"].dtype == "float64"
    assert set(frame[LABEL]) == {0, 1}


def test_stratified_split_keeps_the_rate_and_is_seeded() -> None:
    target = config.FileTarget(column="churned", positive="yes")
    frame, _ = tabular.build(_table(1000), target, _features(), "f.csv")
    parts = tabular.split(frame, 0.15, 0.15, seed=3, ordered=False)
    assert [len(p) for p in parts.values()] == [700, 150, 150]
    rate = frame[LABEL].mean()
    assert all(abs(p[LABEL].mean() - rate) < 0.01 for p in parts.values())
    again = tabular.split(frame, 0.15, 0.15, seed=3, ordered=False)
    assert all(parts[k].equals(again[k]) for k in parts)


def test_time_split_is_ordered() -> None:
    target = config.FileTarget(column="churned", positive="yes")
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
