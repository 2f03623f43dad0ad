"""The model families the study compares, declared once.

Each :class:`Family` names a model (its code name is a column of the baselines' predictions and
a key of the metrics files), says what reports call it, and which comparisons it takes part in.
Everything that lists models reads this module: the baselines stage fits :data:`BASELINES` in
this order, evaluate scores them all and draws the curves of :func:`curve_models`, the paired
comparison takes :func:`compared`, the reports name them with :func:`titles`, the DVC plots
follow, and the backtest plots :func:`backtest_models`.

Adding a family (e.g. a random forest):

1. declare it in :data:`BASELINES` below;
2. give :mod:`tabstudy.models.baselines` its factory in ``FACTORIES`` (a scikit-learn style
   estimator built from the ``baselines`` section and the feature spec), with its settings under
   ``baselines`` in params.yaml if it has any;
3. with ``backtest=True``, its refit on each fold in :mod:`tabstudy.backtest.candidates`.

``docs/training-and-tuning.md`` ("Adding a model family") shows it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One model family: code name, title, and the comparisons it takes part in."""

    name: str
    """The code name: a predictions column and a metrics key."""
    title: str
    """What reports, the model card and the README call it."""
    curves: bool = False
    """Its ROC, precision-recall and calibration points are DVC plots, and its ROC AUC per slice
    is shown beside the network's."""
    compared: bool = False
    """The network is compared with it on paired bootstrap resamples of the test window."""
    backtest: bool = False
    """It is refitted on each rolling-origin fold (its backtest name is its code name)."""


NETWORK = Family("model", "Keras MLP (tuned)", curves=True)
"""The tuned network (its backtest name is ``keras``)."""
BACKTEST_NETWORK = "keras"

BASELINES: tuple[Family, ...] = (
    Family("majority", "majority class"),
    Family("logreg", "logistic regression", curves=True, compared=True, backtest=True),
    Family(
        "hgb", "gradient-boosted trees (HistGB, tuned)", curves=True, compared=True, backtest=True
    ),
    Family("lightgbm", "LightGBM (early-stopped)", compared=True, backtest=True),
)
"""The baselines the network must beat, in the order they are fitted and stored."""


def baseline_names() -> tuple[str, ...]:
    """The baselines' code names, in order."""
    return tuple(f.name for f in BASELINES)


def titles() -> dict[str, str]:
    """What reports call each model, by code name (the network first)."""
    return {f.name: f.title for f in (NETWORK, *BASELINES)}


def curve_models() -> tuple[str, ...]:
    """The models whose curves are drawn and whose slices are shown: the network, then the
    baselines with ``curves`` by code name."""
    return (NETWORK.name, *sorted(f.name for f in BASELINES if f.curves))


def compared() -> list[str]:
    """The baselines the network is compared with (paired bootstrap), in order."""
    return [f.name for f in BASELINES if f.compared]


def backtest_models() -> list[str]:
    """The models of the rolling-origin backtest, by their backtest names (the network last)."""
    return [*(f.name for f in BASELINES if f.backtest), BACKTEST_NETWORK]
