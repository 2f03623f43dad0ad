"""The gates a model passes before it ships: the blessing (thresholds on its own scores) and
the champion gate (a challenger against the registered champion on the same rows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import (
    roc_auc_score,
)

from tabstudy.evaluation.metrics import paired_auc_difference
from tabstudy.evaluation.slices import SLICE_HINT, slice_values
from tabstudy.spec import about_column


@dataclass(frozen=True)
class Blessing:
    """The gate's decision and why."""

    blessed: bool
    roc_auc: float
    best_baseline: str
    best_baseline_roc_auc: float
    min_roc_auc: float
    max_gap: float
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)
    """What the card and the gate must show even when blessed (a suspiciously perfect score)."""


SUSPICIOUS = "suspiciously perfect"


def near_perfect(auc: float, bound: float | None, accepted: str | None) -> tuple[str, bool]:
    """The "suspiciously perfect" warning for a test ROC AUC above ``bound`` (empty when not),
    and whether it blocks (no ``accepted`` reason given)."""
    if bound is None or not auc > bound:
        return "", False
    text = (
        f"{SUSPICIOUS}: test ROC AUC {auc:.4f} is above features.leakage_auc {bound:g}; a "
        "feature may carry the label (part of the outcome, or recorded after it)"
    )
    if accepted:
        return f"{text}; accepted (evaluate.allow_near_perfect): {accepted}", False
    return f"{text}; check the features, or give the reason in evaluate.allow_near_perfect", True


def bless(
    scores: Mapping[str, Mapping[str, float]],
    candidate: str,
    baselines: list[str],
    min_roc_auc: float,
    max_gap: float,
    leakage_auc: float | None = None,
    allow_near_perfect: str | None = None,
) -> Blessing:
    """Bless ``candidate`` if its ROC AUC reaches ``min_roc_auc``, is within ``max_gap`` of the
    best baseline's and, unless ``allow_near_perfect`` gives a reason, is not above
    ``leakage_auc`` (:func:`near_perfect`)."""
    auc = scores[candidate]["roc_auc"]
    best = max(baselines, key=lambda b: scores[b]["roc_auc"])
    best_auc = scores[best]["roc_auc"]
    reasons = []
    if auc < min_roc_auc:
        reasons.append(f"ROC AUC {auc:.4f} below the floor {min_roc_auc:.4f}")
    if auc < best_auc - max_gap:
        reasons.append(f"ROC AUC {auc:.4f} more than {max_gap:.4f} below {best} ({best_auc:.4f})")
    warning, blocks = near_perfect(auc, leakage_auc, allow_near_perfect)
    if blocks:
        reasons.append(warning)
    warnings = [warning] if warning else []
    return Blessing(not reasons, auc, best, best_auc, min_roc_auc, max_gap, reasons, warnings)


def blessing_dict(b: Blessing) -> dict[str, object]:
    return asdict(b)


def blessing_table(b: Blessing) -> pd.DataFrame:
    """The gate's decision as a small table for reports."""
    rows = {
        "decision": "BLESSED" if b.blessed else "NOT BLESSED",
        "model ROC AUC": round(b.roc_auc, 4),
        "floor (evaluate.min_roc_auc)": b.min_roc_auc,
        f"best baseline ({b.best_baseline}) ROC AUC": round(b.best_baseline_roc_auc, 4),
        "allowed gap (evaluate.max_gap_to_best_baseline)": b.max_gap,
        "reasons": "; ".join(b.reasons) or "none",
        **({"warnings": "; ".join(b.warnings)} if b.warnings else {}),
    }
    return pd.Series(rows, name="blessing gate").to_frame()


PROMOTE, REFUSE, CHAMPION = "promote", "refuse", "champion"
"""The champion gate's decisions (``champion``: the model already is the registered champion)."""


def _slice_regressions(
    frame: pd.DataFrame, y: np.ndarray, p_new: np.ndarray, p_old: np.ndarray,
    columns: list[str], max_drop: float, min_rows: int, samples: int, seed: int,
) -> list[dict[str, object]]:  # fmt: skip
    """Every slice of ``min_rows``+ rows with both classes: the challenger's ROC AUC minus the
    champion's, with a paired interval where the point estimate drops more than ``max_drop``
    (only those can block), and whether it blocks (that drop, and an interval below 0)."""
    out: list[dict[str, object]] = []
    for column in columns:
        with about_column(column, "Slicing the gate's rows by values", SLICE_HINT):
            labels = slice_values(frame[column])
        for value in labels.cat.categories:
            mask = (labels == value).to_numpy()
            rows, positives = int(mask.sum()), int(y[mask].sum())
            if rows < min_rows or positives in (0, rows):
                continue
            diff = float(roc_auc_score(y[mask], p_new[mask]) - roc_auc_score(y[mask], p_old[mask]))
            lo = hi = float("nan")
            if diff < -max_drop:
                diff, lo, hi = paired_auc_difference(y[mask], p_new[mask], p_old[mask], samples,
                                                     seed)  # fmt: skip
            blocks = bool(diff < -max_drop and hi < 0)
            out.append({"column": column, "value": str(value), "rows": rows, "diff": diff,
                        "lo": lo, "hi": hi, "blocks": blocks})  # fmt: skip
    return out


def champion_gate(
    y: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray | None,
    frame: pd.DataFrame,
    slice_columns: list[str],
    blessing: Blessing,
    max_drop: float,
    min_slice_rows: int,
    samples: int,
    seed: int,
) -> dict[str, object]:
    """TFX-style value and change thresholds: promote a challenger only if it is blessed, its
    ROC AUC is not below the champion's by more than ``max_drop`` on the same rows (the lower
    end of the paired 95% bootstrap interval of the difference stays above ``-max_drop``), and
    no slice of ``min_slice_rows``+ rows regresses by more than ``max_drop`` (point estimate,
    with a paired interval below 0). ``p_old`` None: there is no champion yet, so a blessed
    model becomes the first. The reasons name every failed rule and slice."""
    y, p_new = np.asarray(y), np.asarray(p_new)
    reasons = [f"not blessed: {r}" for r in blessing.reasons]
    result: dict[str, object] = {"overall": None, "slices": [], "max_drop": max_drop,
                                 "min_slice_rows": min_slice_rows}  # fmt: skip
    if p_old is not None:
        p_old = np.asarray(p_old)
        diff, lo, hi = paired_auc_difference(y, p_new, p_old, samples, seed)
        result["overall"] = {"challenger_roc_auc": float(roc_auc_score(y, p_new)),
                             "champion_roc_auc": float(roc_auc_score(y, p_old)),
                             "diff": diff, "lo": lo, "hi": hi}  # fmt: skip
        if not lo >= -max_drop:
            reasons.append(f"ROC AUC {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] against the champion: "
                           f"the interval reaches below -{max_drop:g}")  # fmt: skip
        slices = _slice_regressions(frame, y, p_new, p_old, slice_columns, max_drop,
                                    min_slice_rows, samples, seed)  # fmt: skip
        result["slices"] = slices
        for s in slices:
            if s["blocks"]:
                reasons.append(f"slice {s['column']}={s['value']} ({s['rows']:,} rows) regresses "
                               f"{s['diff']:+.4f} [{s['lo']:+.4f}, {s['hi']:+.4f}], beyond "
                               f"-{max_drop:g}")  # fmt: skip
    result["decision"] = REFUSE if reasons else PROMOTE
    result["reasons"] = reasons
    if blessing.warnings:
        result["warnings"] = list(blessing.warnings)
    return result


def gate_table(gate: Mapping[str, object]) -> pd.DataFrame:
    """The champion gate's decision as a small table for reports."""
    overall = gate.get("overall") or {}
    champ = gate.get("champion") or {}
    rows = {
        "decision": str(gate["decision"]).upper(),
        "champion": champ.get("version", "none yet") if isinstance(champ, Mapping) else "none yet",
        "ROC AUC difference [95%]": (
            f"{overall['diff']:+.4f} [{overall['lo']:+.4f}, {overall['hi']:+.4f}]"
            if overall
            else "n/a"
        ),
        "allowed drop (evaluate.champion_max_drop)": gate.get("max_drop"),
        "slices compared": len(gate.get("slices") or []),  # type: ignore[arg-type]
        "reasons": "; ".join(gate.get("reasons") or []) or "none",  # type: ignore[arg-type]
        **({"warnings": "; ".join(gate["warnings"])} if gate.get("warnings") else {}),  # type: ignore[arg-type]
    }
    return pd.Series(rows, name="champion gate").to_frame()
