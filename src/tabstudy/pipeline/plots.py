"""The DVC plots of the study (top level of dvc.yaml). Only :mod:`.dvcgen` reads this module, so
editing a plot declaration makes no stage stale."""

from __future__ import annotations

from typing import Any

from tabstudy import paths

MODELS: tuple[str, ...] = ("model", "hgb", "logreg")


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
            "Feature drift (PSI)": {
                "template": "bar_horizontal",
                "x": "psi",
                "y": {_csv("monitor", "drift"): "feature"},
            }
        },
    ]
