"""The DVC plots of the study (top level of dvc.yaml). Only :mod:`.dvcgen` reads this module, so
editing a plot declaration makes no stage stale."""

from __future__ import annotations

from typing import Any

from tabstudy import families, paths

MODELS: tuple[str, ...] = families.curve_models()


def _csv(stage: str, name: str) -> str:
    return paths.rel(paths.plots_dir(stage) / f"{name}.csv")


def plots() -> list[dict[str, Any]]:
    """Plot declarations: ROC, precision-recall and calibration per model, training curves,
    tuning trials, feature drift."""
    return [
        {
            "ROC (test)": {
                "template": "simple",
                "x": "fpr",
                "y": {_csv("evaluate", f"roc_{m}"): "tpr" for m in MODELS},
            }
        },
        {
            "Precision-recall (test)": {
                "template": "simple",
                "x": "recall",
                "y": {_csv("evaluate", f"pr_{m}"): "precision" for m in MODELS},
            }
        },
        {
            "Calibration (test)": {
                "template": "simple",
                "x": "mean_predicted",
                "y": {_csv("evaluate", f"calibration_{m}"): "fraction_positive" for m in MODELS},
            }
        },
        {
            "Training curves": {
                "template": "linear",
                "x": "epoch",
                "y": {_csv("train", "history"): ["loss", "val_loss"]},
            }
        },
        {
            "Training AUC": {
                "template": "linear",
                "x": "epoch",
                "y": {_csv("train", "history"): ["auc", "val_auc"]},
            }
        },
        {
            "Tuning trials": {
                "template": "bar_horizontal",
                "x": "val_auc",
                "y": {_csv("tune", "trials"): "trial"},
            }
        },
        {
            "Feature drift over time (largest PSI per feature family)": {
                "template": "linear",
                "x": "window",
                "y": {
                    _csv("monitor", "windows"): [
                        "psi_flights",
                        "psi_weather",
                        "psi_planes",
                        "psi_calendar",
                    ]
                },
            }
        },
        {
            "Estimated and realised ROC AUC per window": {
                "template": "linear",
                "x": "window",
                "y": {_csv("monitor", "performance"): ["est_auc", "roc_auc"]},
            }
        },
        {
            "Rolling-origin ROC AUC per fold": {
                "template": "linear",
                "x": "fold",
                "y": {_csv("backtest", "fold_auc"): families.backtest_models()},
            }
        },
        {
            "Retraining policies: ROC AUC on the following month": {
                "template": "linear",
                "x": "month",
                "y": {
                    _csv("backtest", "policy_auc"): ["never", "sliding", "expanding", "on_alert"]
                },
            }
        },
    ]
