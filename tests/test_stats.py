"""The exact bootstrap ROC AUC from resample weights equals sklearn on the resampled rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tabstudy import stats


def test_weighted_auc_equals_sklearn_on_the_resampled_rows_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    p = np.round(rng.random(2000) * 0.5 + 0.3 * y, 2)  # many tied scores
    assert stats.weighted_auc(y, p, np.ones((1, 2000)))[0] == pytest.approx(roc_auc_score(y, p))
    w = stats.resample_weights(2000, 5, np.random.default_rng(0))
    idx = np.random.default_rng(0).integers(0, 2000, (5, 2000))
    for k in range(5):
        assert w[k].sum() == 2000
        want = roc_auc_score(y[idx[k]], p[idx[k]])
        assert stats.weighted_auc(y, p, w[k : k + 1])[0] == pytest.approx(want, abs=1e-12)


def test_paired_resamples_drop_one_class_draws_and_stay_within_strata() -> None:
    y = np.array([0, 1, 0, 0])
    out = stats.bootstrap_aucs(y, {"a": np.array([0.1, 0.9, 0.2, 0.3])}, 200, 1)
    assert len(out["a"]) < 200 and np.isfinite(out["a"]).all()  # one-class resamples dropped
    strata = np.array([0, 0, 1, 1, 1])
    w = stats.stratified_weights(strata, 50, np.random.default_rng(2))
    assert (w[:, :2].sum(axis=1) == 2).all() and (w[:, 2:].sum(axis=1) == 3).all()
