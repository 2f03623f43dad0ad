"""The leakage guard: a feature that alone separates the label stops the features stage, unless
the study accepts it with a reason; identifiers and honest features pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy.data import leakage
from tabstudy.spec import LABEL, Feature, FeatureSet


def _train(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, FeatureSet]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype("int8")
    frame = pd.DataFrame({
        "honest": rng.normal(size=n) + 0.6 * y,                 # a real but weak signal
        "leaky": y * 10.0 + rng.normal(scale=0.5, size=n),      # the label plus noise
        "customer_id": [f"c{i}" for i in range(n)],             # unique on every row
        "plan": rng.choice(["a", "b", "c"], n),
        LABEL: y,
    })  # fmt: skip
    frame.loc[rng.random(n) < 0.1, "honest"] = np.nan
    spec = FeatureSet(tuple(
        Feature(name, kind, "t", "given", "")
        for name, kind in [("honest", "numeric"), ("leaky", "numeric"),
                           ("customer_id", "categorical"), ("plan", "categorical")]
    ))  # fmt: skip
    return frame, spec


def test_the_label_plus_noise_is_caught_and_named() -> None:
    train, spec = _train()
    with pytest.raises(leakage.LeakageError) as err:
        leakage.guard(train, spec, 0.98, {})
    message = str(err.value)
    assert "feature 'leaky' (numeric) alone reaches ROC AUC 1.0000" in message
    assert "features.leakage_auc 0.98" in message
    assert "features.exclude" in message and "features.allow_leaky" in message
    assert "honest" not in message and "customer_id" not in message


def test_identifiers_and_honest_features_score_as_such() -> None:
    train, spec = _train()
    table = leakage.scores(train, spec).set_index("feature")["auc"]
    assert table["leaky"] > 0.999
    assert 0.6 < table["honest"] < 0.75
    assert table["customer_id"] < 0.55  # unique ids: out-of-fold rates carry nothing
    assert table["plan"] < 0.56
    inverted = train.assign(leaky=-train["leaky"])  # either direction separates
    assert leakage.scores(inverted, spec).set_index("feature")["auc"]["leaky"] > 0.999


def test_a_categorical_copy_of_the_label_is_caught() -> None:
    train, spec = _train()
    train["plan"] = np.where(train[LABEL] == 1, "gold", "basic")
    with pytest.raises(leakage.LeakageError, match="feature 'plan' \\(categorical\\)"):
        leakage.guard(train, spec, 0.98, {"leaky": "known in time: measured at intake"})


def test_the_override_carries_its_reason_into_the_spec() -> None:
    train, spec = _train()
    reason = "recorded at sign-up, before the outcome"
    out, table = leakage.guard(train, spec, 0.98, {"leaky": reason})
    assert out.leakage_auc == 0.98 and out.leaky == {"leaky": reason}
    assert table["feature"].iloc[0] == "leaky"
    assert FeatureSet.from_dict(out.to_dict()).leaky == {"leaky": reason}
    name, auc = out.strongest  # the strongest feature and its AUC, for the card
    assert name == "leaky" and auc == pytest.approx(table["auc"].iloc[0], abs=1e-6) and auc > 0.999
    assert FeatureSet.from_dict(out.to_dict()).strongest == out.strongest
    # an allowed feature that scores under the bound is no exception: not carried to the card
    honest, _ = leakage.guard(train, spec, 0.98, {"leaky": reason, "honest": "not needed"})
    assert honest.leaky == {"leaky": reason}


def test_an_override_of_an_unknown_feature_is_refused() -> None:
    train, spec = _train()
    with pytest.raises(leakage.LeakageError, match="names \\['lekay'\\]"):
        leakage.guard(train, spec, 0.98, {"lekay": "typo", "leaky": "ok"})


def test_a_single_class_window_scores_nothing() -> None:
    train, spec = _train()
    train[LABEL] = 0
    out, table = leakage.guard(train, spec, 0.98, {})
    assert table.empty and out.leakage_auc == 0.98
