"""Model families are declared once (tabstudy.families); every list of models follows it."""

from __future__ import annotations

from tabstudy import families
from tabstudy.evaluation import metrics
from tabstudy.models import baselines
from tabstudy.pipeline import plots
from tabstudy.stages import evaluate


def test_every_list_of_models_comes_from_the_declaration() -> None:
    assert tuple(f.name for f in families.BASELINES) == baselines.BASELINES
    assert {f.name: f.title for f in (families.NETWORK, *families.BASELINES)} == metrics.MODEL_NAMES
    assert evaluate.CURVES == plots.MODELS == families.curve_models()
    assert evaluate.CURVES[0] == families.NETWORK.name
    assert set(families.compared()) <= set(baselines.BASELINES) - {"majority"}
    declared = {
        name: spec for p in plots.plots() for name, spec in p.items() if "fold" in name.lower()
    }
    (fold_auc,) = declared.values()
    assert next(iter(fold_auc["y"].values())) == families.backtest_models()


def test_every_declared_baseline_is_fitted_by_the_baselines_module() -> None:
    """A family declared without a factory would fail the baselines stage; this says so first."""
    tuned = {"hgb", "lightgbm"}  # fitted with the settings the baselines stage chose
    assert set(baselines.BASELINES) == set(baselines.FACTORIES) | tuned
    assert len({f.name for f in families.BASELINES}) == len(families.BASELINES)
