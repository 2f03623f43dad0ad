"""The decision threshold: chosen on the validation window by a rule, and the confusion counts
at it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and how it was chosen (on the validation window).

    ``rule`` is ``max_f1`` or ``min_cost`` (a missed positive costs ``false_negative_cost`` false
    alarms); ``precision``/``recall``/``f1``/``positive_share`` are measured at ``value`` on the
    rows it was chosen on.
    """

    value: float
    rule: str
    false_negative_cost: float
    precision: float
    recall: float
    f1: float
    positive_share: float


def at_threshold(y: np.ndarray, p: np.ndarray, value: float) -> dict[str, float]:
    """Precision, recall, F1 and the share predicted positive when ``p >= value``."""
    pred = p >= value
    tp = float(np.sum(pred & (y == 1)))
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float((y == 1).sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "positive_share": float(pred.mean()),
    }


def choose_threshold(
    y: np.ndarray, p: np.ndarray, rule: str, false_negative_cost: float = 1.0
) -> Threshold:
    """The threshold on ``p`` that maximises F1 (``max_f1``) or minimises the expected cost
    ``false positives + false_negative_cost * false negatives`` (``min_cost``).

    Candidates are the distinct scores (predict positive when ``p >= threshold``); ties go to the
    highest threshold.
    """
    if rule not in ("max_f1", "min_cost"):
        raise ValueError(f"unknown threshold rule {rule!r}; use 'max_f1' or 'min_cost'")
    y = np.asarray(y).astype(int)
    order = np.argsort(-np.asarray(p, dtype="float64"), kind="stable")
    scores, labels = np.asarray(p, dtype="float64")[order], y[order]
    last = np.r_[scores[1:] != scores[:-1], True]  # last index of each distinct score
    tp = np.cumsum(labels)[last]
    fp = np.cumsum(1 - labels)[last]
    cut = scores[last]
    fn = labels.sum() - tp
    if rule == "max_f1":
        objective = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    else:
        objective = -(fp + false_negative_cost * fn)
    best = int(np.flatnonzero(objective == objective.max())[0])
    value = float(cut[best])
    return Threshold(value, rule, float(false_negative_cost), **at_threshold(y, p, value))
