"""Sentences computed from the modelling stages' own results (baselines, tune, train), so every
report page ends with what its numbers say, never with text typed by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


def _notes_sentence(notes: Sequence[str], what: str, none: str) -> str:
    if not notes:
        return f"No notes on the {what}: {none}."
    return f"{len(notes)} note(s) on the {what} (listed above and printed on the console)."


FITS = "it fits the data and its best point is inside it"


def baselines_findings(
    scores: Mapping[str, Mapping[str, float]],
    names: Mapping[str, str],
    candidates: int,
    notes: Sequence[str],
) -> list[str]:
    """How the baselines rank on the validation rows, the margin between the two best, and how
    far they beat the majority class."""
    ranked = sorted(scores, key=lambda m: scores[m]["roc_auc"], reverse=True)
    best, second = ranked[0], ranked[1]
    gap = scores[best]["roc_auc"] - scores[second]["roc_auc"]
    listing = ", ".join(f"{names.get(m, m)} {scores[m]['roc_auc']:.4f}" for m in ranked)
    out = [
        f"Validation ROC AUC: {listing}.",
        f"{names.get(best, best)} leads {names.get(second, second)} by {gap:+.4f} on the "
        "validation rows (a single split: the test stage gives the intervals).",
        f"The tree's search tried {candidates} candidate(s).",
        _notes_sentence(notes, "grid", FITS),
    ]
    return out


def tune_findings(trials: pd.DataFrame, best: Mapping[str, Any], notes: Sequence[str]) -> list[str]:
    """The search in numbers: trials by who chose them, the best and worst validation AUC, how
    many trials lie near the best, and the chosen point."""
    done = trials.dropna(subset=["val_auc"])
    chosen = done["chosen_by"].value_counts()
    top = float(done["val_auc"].max())
    near = int((done["val_auc"] >= top - 0.002).sum())
    point = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.items())
    out = [
        f"{len(done)} trial(s) completed: {int(chosen.get('random', 0))} random draw(s) and "
        f"{int(chosen.get('model', 0))} chosen by the Gaussian process.",
        f"Best validation ROC AUC {top:.4f}, worst {float(done['val_auc'].min()):.4f}; "
        f"{near} trial(s) lie within 0.002 of the best.",
        f"Chosen point: {point}.",
        _notes_sentence(notes, "search space", FITS),
    ]
    return out


def train_findings(summary: Mapping[str, Any], cap: int, notes: Sequence[str]) -> list[str]:
    """Training in numbers: epochs run against the cap, the epoch kept, the validation scores
    and what the chosen threshold does there."""
    t = summary["threshold"]
    stop = "early stopping ended it" if summary["epochs_run"] < cap else "it ran to the cap"
    rule = {"max_f1": "maximum F1", "min_cost": "minimum expected cost"}.get(t["rule"], t["rule"])
    return [
        f"Training ran {summary['epochs_run']} of at most {cap} epochs ({stop}); the weights kept "
        f"are those of epoch {summary['best_epoch']} (lowest validation loss "
        f"{summary['best_val_loss']:.4f}).",
        f"Validation ROC AUC {summary['valid']['roc_auc']:.4f}, PR AUC "
        f"{summary['valid']['pr_auc']:.4f}, Brier {summary['valid']['brier']:.4f}.",
        f"The threshold {t['value']:.4f} ({rule}) flags {100 * t['positive_share']:.1f}% of "
        f"validation rows with precision {t['precision']:.3f} and recall {t['recall']:.3f}.",
        _notes_sentence(
            notes,
            "training budget",
            "the epoch cap fits the data and was not reached while the validation loss still fell",
        ),
    ]
