"""Baselines: the tree is tuned on the validation window, its refit reproduces the chosen model,
every baseline predicts every split, and LightGBM copes with unseen and missing values, is
deterministic and stops early on the validation window."""

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
        "lgbm_learning_rate": 0.1,
        "lgbm_num_leaves": 7,
        "lgbm_min_child_samples": 10,
        "lgbm_max_iter": 300,
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


def _lgbm(frame: pd.DataFrame, n_estimators: int = 60) -> object:
    params = b.LgbmParams(learning_rate=0.1, num_leaves=7, min_child_samples=10,
                          n_estimators=n_estimators)  # fmt: skip
    return b.lgbm_model(params, SPEC, seed=0).fit(frame[SPEC.names()], frame[LABEL])


def test_lightgbm_takes_unseen_categories_and_missing_values_as_missing() -> None:
    train = _frame(1500, 1)
    train.loc[::7, "x"] = np.nan
    train.loc[::11, "c"] = None
    model = _lgbm(train)
    rows = _frame(4, 2)
    unseen = rows.assign(c=["zzz", "a", "b", "never seen"])
    missing = rows.assign(c=[None, "a", "b", np.nan])
    p_unseen = model.predict_proba(unseen[SPEC.names()])[:, 1]
    p_missing = model.predict_proba(missing[SPEC.names()])[:, 1]
    np.testing.assert_array_equal(p_unseen, p_missing)  # an unseen category is a missing one
    p_nan = model.predict_proba(rows.assign(x=np.nan)[SPEC.names()])[:, 1]
    assert np.isfinite(p_nan).all() and ((p_nan > 0) & (p_nan < 1)).all()
    frame_in = model[0].transform(unseen[SPEC.names()])
    assert isinstance(frame_in["c"].dtype, pd.CategoricalDtype)
    assert list(frame_in["c"].cat.categories) == ["a", "b", "c"]  # fixed on the training rows
    assert frame_in["c"].isna().tolist() == [True, False, False, True]


def test_lightgbm_is_deterministic() -> None:
    train, valid = _frame(1500, 1), _frame(500, 2)
    p1 = _lgbm(train).predict_proba(valid[SPEC.names()])[:, 1]
    p2 = _lgbm(train.copy()).predict_proba(valid[SPEC.names()])[:, 1]
    np.testing.assert_array_equal(p1, p2)


def test_lightgbm_stops_early_on_the_valid_window_and_the_refit_keeps_that_many() -> None:
    from sklearn.metrics import roc_auc_score

    train, valid = _frame(1500, 1), _frame(600, 2)
    cfg = _cfg(lgbm_learning_rate=0.3, lgbm_max_iter=300)
    best_iter, auc = b.fit_lgbm_on_window(cfg, train, valid, SPEC, seed=0)
    assert 1 <= best_iter < 300  # it stopped before the cap
    assert auc > 0.7
    chosen = b.chosen_lgbm(cfg, best_iter)
    assert chosen.n_estimators == best_iter and chosen.learning_rate == 0.3
    preds = b.fit_predict(train, {"valid": valid}, SPEC, cfg, 0, b.HgbParams(), chosen)
    assert roc_auc_score(valid[LABEL], preds["lightgbm"]) == pytest.approx(auc, abs=1e-12)
    capped, _ = b.fit_lgbm_on_window(b.chosen_lgbm(cfg, 5), train, valid, SPEC, seed=0)
    assert capped <= 5
