"""What the model card shows (:class:`CardFacts`), read and derived from the pipeline's own
outputs: the data, the slices, calibration, coverage; the study's words (:func:`for_study`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tabstudy import artifacts
from tabstudy.config import ModelCardConfig


@dataclass(frozen=True)
class CardFacts:
    """Everything the card shows; each field comes from a pipeline output."""

    config: ModelCardConfig
    features: pd.DataFrame
    splits: pd.DataFrame
    scores: pd.DataFrame
    intervals: dict[str, list[float]]
    blessing: dict[str, Any]
    hyperparameters: dict[str, Any]
    training: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    """What the card calls each model (code name -> display name)."""
    slices: pd.DataFrame | None = None
    """Test results per slice (evaluate's slices.csv: slice, value, rows, positive_rate,
    auc_<model>); None for an older evaluate output."""
    calibration: pd.DataFrame | None = None
    """The model's reliability bins on the test rows (mean_predicted, fraction_positive, count)."""
    monitoring: list[str] = field(default_factory=list)
    """The monitor stage's findings (sentences), [] when it has not run."""
    over_time: list[str] = field(default_factory=list)
    """The backtest stage's findings: rolling-origin comparison, the delay-propagation effect,
    the retraining policies (sentences), [] when it has not run."""
    rolling: pd.DataFrame | None = None
    """Rolling-origin ROC AUC per model (model, folds, mean, sd, min, max), None when absent."""
    promotion: dict[str, Any] | None = None
    """The champion/challenger decision (evaluate's ``promotion``), None when absent."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Code, data, model and environment versions (:func:`tabstudy.provenance.card_provenance`)."""
    coverage: dict[str, Any] | None = None
    """Source rows left out of every split (:func:`coverage`), None when unknown."""


def data_facts(bundle: Any, evaluate: dict[str, Any], ingest: dict[str, Any]) -> dict[str, Any]:
    """What the card says about the data, the label and the decision threshold, from the model
    bundle, the evaluate metrics and the ingest metrics (a file source's digest)."""
    text = bundle.spec.description
    part = "window" if bundle.spec.time_column else "split"
    if ingest.get("sha256"):
        text += f" The file's SHA-256 at ingest: {ingest['sha256'][:12]}."
    return {
        "data_description": text,
        "label_definition": bundle.spec.label_definition,
        "threshold": bundle.threshold,
        "test_threshold": evaluate.get("threshold", {}),
        "code": bundle.metadata.get("code", {}),
        "part": part,
        "leakage": leakage_text(bundle.spec.leakage_auc, bundle.spec.leaky, bundle.spec.strongest),
    }


def leakage_text(
    bound: float | None, accepted: dict[str, str], strongest: tuple[str, float] | None = None
) -> str:
    """The card's sentence on the leakage guard: its bound, the strongest single feature with its
    ROC AUC alone, and each feature accepted above the bound with the reason given (empty when
    the guard did not run)."""
    if bound is None:
        return ""
    text = f"Leakage guard (`features.leakage_auc` {bound:g}):"
    if strongest is not None:
        name, auc = strongest
        side = "above" if auc > bound else "within"
        text += (
            f" the strongest single feature, `{name}`, reaches ROC AUC {auc:.4f} alone on the "
            f"training window, {side} the bound"
        )
    else:
        text += f" every feature alone scored ROC AUC at most {bound:g} on the training window"
    if not accepted:
        return text + "."
    listed = "; ".join(f"`{name}`: {reason}" for name, reason in accepted.items())
    return text + f". Accepted above the bound in `features.allow_leaky`, with a reason: {listed}."


class ModelCardWarning(UserWarning):
    """The card's words were written for another study."""


def for_study(cfg: ModelCardConfig, study: str, label_definition: str) -> ModelCardConfig:
    """``cfg`` when it was written for ``study`` (``model_card.study``); else neutral words from
    the label definition, with a :class:`ModelCardWarning` saying what to set, so a card never
    speaks of another study's data."""
    if cfg.study == study:
        return cfg
    warnings.warn(
        f"model_card.study is {cfg.study!r} but this run studies {study!r}: the card's title, "
        "intended use and limitations are left neutral; set them, with model_card.study: "
        f"{study}, in your profile's model_card section",
        ModelCardWarning,
        stacklevel=2,
    )
    unstated = "Not stated for this study: set model_card.{} in params.yaml."
    return cfg.model_copy(
        update={
            "study": study,
            "title": f"A model of: {label_definition.rstrip('.')}",
            "intended_use": unstated.format("intended_use"),
            "limitations": [unstated.format("limitations")],
        }
    )


SLICE_COLUMNS: tuple[str, ...] = ("slice", "value", "rows", "positive_rate", "auc_model")


def slice_results(
    slices: pd.DataFrame, interval: list[float] | None, min_rows: int | None
) -> pd.DataFrame:
    """The model's test ROC AUC per slice value, with two flags: ``below_ci`` where it is below
    the lower bound of the overall 95% interval ``interval``, and ``few_rows`` where the slice
    has fewer than ``min_rows`` test rows or too few to score (no ROC AUC)."""
    out = slices.reindex(columns=list(SLICE_COLUMNS)).copy()
    out["value"] = out["value"].astype(str)
    out["rows"] = out["rows"].astype(int)
    auc = pd.to_numeric(out["auc_model"], errors="coerce")
    lo = interval[0] if interval and interval[0] is not None else None
    out["below_ci"] = auc.lt(lo) if lo is not None else False
    out["few_rows"] = auc.isna() | (out["rows"].lt(min_rows) if min_rows else False)
    return out.reset_index(drop=True)


def slice_label(row: pd.Series | dict[str, Any]) -> str:
    """``"column=value"``, how the card and its JSON name a slice."""
    return f"{row['slice']}={row['value']}"


def calibration_summary(bins: pd.DataFrame) -> dict[str, Any]:
    """Expected calibration error (count-weighted mean gap between the predicted probability and
    the observed positive rate of the reliability bins), the largest gap, the signed mean gap
    (observed minus predicted: > 0 means the model under-predicts), the bin and row counts."""
    gap = bins["fraction_positive"] - bins["mean_predicted"]
    weight = bins["count"] / bins["count"].sum()
    return {
        "ece": float((gap.abs() * weight).sum()),
        "max_gap": float(gap.abs().max()),
        "mean_gap": float((gap * weight).sum()),
        "bins": len(bins),
        "rows": int(bins["count"].sum()),
    }


def coverage(ingest: dict[str, Any], splits: pd.DataFrame) -> dict[str, Any] | None:
    """How many rows of the source table (the largest ingested table: the flights, or a table
    study's one file) are in no split (e.g. unlabelled: cancelled or diverted flights).
    ``{"table", "source_rows", "split_rows", "left_out", "share"}``; None when unknown."""
    rows = ingest.get("rows")
    if not isinstance(rows, dict) or not rows or "rows" not in splits:
        return None
    table = max(rows, key=lambda name: rows[name])
    source, kept = int(rows[table]), int(splits["rows"].astype(float).sum())
    if source <= 0 or kept > source:
        return None
    left = source - kept
    return {"table": table, "source_rows": source, "split_rows": kept, "left_out": left,
            "share": left / source}  # fmt: skip


def min_slice_rows(promotion: dict[str, Any] | None) -> int | None:
    """The fewest test rows a slice needs to count (the promotion gate's ``min_slice_rows``),
    None without a promotion decision (then only slices that could not be scored are few)."""
    rows = (promotion or {}).get("min_slice_rows")
    return int(rows) if rows else None


def optional_csv(path: Path, **read_csv: Any) -> pd.DataFrame | None:
    """The CSV at ``path`` (``read_csv`` options passed on), None where an older or partial run
    did not write it."""
    return pd.read_csv(path, **read_csv) if Path(path).is_file() else None


def optional_json(path: Path) -> Any:
    """The JSON at ``path``, None where it does not exist (e.g. the monitor stage's findings
    before that stage has run)."""
    return artifacts.read_json(path) if Path(path).is_file() else None
