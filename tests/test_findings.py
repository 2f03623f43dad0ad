"""The modelling stages' findings are computed from their numbers."""

from __future__ import annotations

import pandas as pd

from tabstudy.models import findings

NAMES = {"logreg": "logistic regression", "hgb": "the tree", "majority": "majority class"}


def test_baselines_findings_rank_and_margin() -> None:
    scores = {"majority": {"roc_auc": 0.5}, "logreg": {"roc_auc": 0.7165},
              "hgb": {"roc_auc": 0.7105}}  # fmt: skip
    found = findings.baselines_findings(scores, NAMES, 10, ["a note"])
    assert found[0] == ("Validation ROC AUC: logistic regression 0.7165, the tree 0.7105, "
                        "majority class 0.5000.")  # fmt: skip
    assert found[1].startswith("logistic regression leads the tree by +0.0060")
    assert "10 candidate(s)" in found[2] and found[3].startswith("1 note(s) on the grid")
    none = findings.baselines_findings(scores, NAMES, 1, [])[3]
    assert none.startswith("No notes on the grid: it fits")


def test_tune_findings_count_who_chose_and_how_close() -> None:
    trials = pd.DataFrame({"val_auc": [0.7007, 0.6995, 0.69, None],
                           "chosen_by": ["model", "random", "random", "model"]})  # fmt: skip
    found = findings.tune_findings(trials, {"units": 64, "dropout": 0.1}, [])
    assert found[0] == ("3 trial(s) completed: 2 random draw(s) and 1 chosen by the Gaussian "
                        "process.")  # fmt: skip
    assert found[1] == ("Best validation ROC AUC 0.7007, worst 0.6900; 2 trial(s) lie within "
                        "0.002 of the best.")  # fmt: skip
    assert found[2] == "Chosen point: units=64, dropout=0.1."


def test_train_findings_say_whether_early_stopping_ended_it() -> None:
    summary = {"epochs_run": 5, "best_epoch": 2, "best_val_loss": 0.41234,
               "valid": {"roc_auc": 0.7, "pr_auc": 0.4, "brier": 0.15},
               "threshold": {"value": 0.218, "rule": "max_f1", "positive_share": 0.382,
                             "precision": 0.404, "recall": 0.651}}  # fmt: skip
    found = findings.train_findings(summary, 38, [])
    assert "ran 5 of at most 38 epochs (early stopping ended it)" in found[0]
    assert "epoch 2 (lowest validation loss 0.4123)" in found[0]
    assert found[2] == ("The threshold 0.2180 (maximum F1) flags 38.2% of validation rows with "
                        "precision 0.404 and recall 0.651.")  # fmt: skip
    assert "it ran to the cap" in findings.train_findings(summary, 5, [])[0]
