"""Baselines: the tree is tuned on the validation window, its refit reproduces the chosen model,
and every baseline predicts every split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabstudy import config
from tabstudy.models import baselines as b
from tabstudy.spec import LABEL, Feature, FeatureSet

SPEC = FeatureSet(
    (
        Feature("c", "categorical", "t", "", ""),
        Feature("x", "numeric", "t", "", ""),
        Feature("z", "numeric", "t", "", ""),
    )
)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "c": rng.choice(["a", "b", "c"], n).astype(object),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
        }
    )
    logit = frame["x"] * np.where(frame["c"] == "a", 2.0, -1.0) + 0.5 * frame["z"] ** 2 - 0.5
    frame[LABEL] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    return frame


def _cfg(**kw: object) -> config.BaselinesConfig:
    grid = {
        "hgb_learning_rate": [0.1, 0.3],
        "hgb_max_leaf_nodes": [4, 15],
        "hgb_min_samples_leaf": [10, 40],
        "hgb_l2_regularization": [0.0],
        "hgb_max_iter": 200,
        "logreg_c": 1.0,
        "hgb_trials": 8,
    }
    return config.BaselinesConfig(**{**grid, **kw})


def test_candidates_are_a_seeded_sample_of_the_grid() -> None:
    everything = b.hgb_candidates(_cfg(hgb_trials=100), 0)
    assert len(everything) == 8
    some = b.hgb_candidates(_cfg(hgb_trials=3), 0)
    assert len(some) == 3 and set(some) <= set(everything)
    assert some == b.hgb_candidates(_cfg(hgb_trials=3), 0)


def test_tuning_ranks_by_validation_auc_and_refit_reproduces_it() -> None:
    train, valid = _frame(1500, 1), _frame(600, 2)
    search = b.tune_hgb(train, valid, SPEC, _cfg(hgb_trials=4), seed=0)
    assert list(search["val_auc"]) == sorted(search["val_auc"], reverse=True)
    assert (search["best_iter"] < 200).all()  # early stopping on the validation window acted
    chosen = b.chosen_hgb(search)
    preds = b.fit_predict(train, {"valid": valid}, SPEC, _cfg(), 0, chosen)
    from sklearn.metrics import roc_auc_score

    refit_auc = roc_auc_score(valid[LABEL], preds["hgb"])
    assert refit_auc == pytest.approx(search.loc[0, "val_auc"], abs=1e-12)
    assert set(preds.columns) == {"split", "row", LABEL, *b.BASELINES}
    assert preds["majority"].nunique() == 1
