"""The model card as JSON in the Model Card Toolkit's schema."""

from __future__ import annotations

from typing import Any

from tabstudy.model_card.facts import CardFacts, slice_label
from tabstudy.model_card.text import ARCHITECTURE, derived, findings

MCT_SCHEMA_VERSION = "0.0.2"
"""The Model Card Toolkit JSON schema whose field names :func:`card_json` follows."""


def _metric(kind: str, value: float, part: str, ci: list[float] | None = None) -> dict[str, Any]:
    """One MCT ``performance_metric`` (values as strings, as the v0.0.2 schema types them)."""
    out: dict[str, Any] = {"type": kind, "value": repr(float(value)), "slice": part}
    if ci and ci[0] is not None:
        out["confidence_interval"] = {"lower_bound": repr(float(ci[0])),
                                      "upper_bound": repr(float(ci[1]))}  # fmt: skip
    return out


def performance_metrics(facts: CardFacts, view: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's test metrics (ROC AUC with its 95% interval, PR AUC, log loss, Brier,
    expected calibration error, precision and recall at the threshold), then ROC AUC per slice
    value that could be scored."""
    row, part = facts.scores.loc["model"], "overall"
    out = [_metric("roc_auc", row["roc_auc"], part, facts.intervals.get("model"))]
    out += [_metric(k, row[k], part) for k in ("pr_auc", "log_loss", "brier") if k in row]
    if view["calibration"]:
        out.append(_metric("expected_calibration_error", view["calibration"]["ece"], part))
    test = facts.extra.get("test_threshold") or {}
    out += [
        _metric(f"{k}_at_threshold", test[k], part) for k in ("precision", "recall") if k in test
    ]
    if view["slices"] is not None:
        scored = view["slices"][view["slices"]["auc_model"].notna()]
        out += [_metric("roc_auc", r["auc_model"], slice_label(r)) for _, r in scored.iterrows()]
    return out


def _datasets(facts: CardFacts) -> list[dict[str, Any]]:
    """MCT ``dataset`` entries for each split, with its rows, positive rate and dates."""
    part, out = facts.extra.get("part", "split"), []
    for name, s in facts.splits.iterrows():
        dates = [s.get(k) for k in ("first_date", "last_date")]
        when = f" from {dates[0]} to {dates[1]}" if all(isinstance(d, str) for d in dates) else ""
        out.append({
            "name": f"{name} {part}",
            "description": f"{int(s['rows']):,} rows{when}, "
                           f"{100 * float(s['positive_rate']):.1f}% positive.",
            "rows": int(s["rows"]), "positive_rate": float(s["positive_rate"]),
            **({"first_date": dates[0], "last_date": dates[1]} if when else {}),
        })  # fmt: skip
    return out


def _output_format(facts: CardFacts) -> str:
    """What the model returns: the probability of the label, and where it counts as positive."""
    label = facts.extra.get("label_definition") or "y = 1."
    th = facts.extra.get("threshold")
    cut = f" Positive at or above the threshold {th['value']:.4f}." if th else ""
    return f"The probability that {label}{cut}"


def card_json(facts: CardFacts) -> dict[str, Any]:
    """The card as JSON with the Model Card Toolkit schema's field names (v0.0.2), plus two
    top-level keys of this project: ``provenance`` and ``promotion``."""
    view, cfg = derived(facts), facts.config
    version = {"name": view["version"] or "unregistered"}
    if view["date"]:
        version["date"] = view["date"]
    return {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": cfg.title, "overview": " ".join(findings(facts)), "version": version,
            "owners": [{"name": cfg.owner}], "references": [], "licenses": [],
            "citations": [{"style": "text", "citation": f"{cfg.owner}: {cfg.title} "
                           f"(model version {version['name']}), model card."}],
        },
        "model_parameters": {
            "model_architecture": ARCHITECTURE, "data": _datasets(facts),
            "input_format": "One row of raw features: " + ", ".join(
                f"{f['name']} ({f['kind']})" for f in facts.features.to_dict("records")) + ".",
            "output_format": _output_format(facts),
            "hyperparameters": facts.hyperparameters,
            "decision_threshold": facts.extra.get("threshold"),
        },
        "quantitative_analysis": {
            "performance_metrics": performance_metrics(facts, view),
            "graphics": {"description": "The evaluate stage's figures (ROC, PR, calibration, "
                         "slices) are under reports/figures/evaluate.", "collection": []},
        },
        "considerations": {
            "users": [{"description": s} for s in view["in_scope"][:1]],
            "use_cases": [{"description": s} for s in view["in_scope"]],
            "limitations": [{"description": s} for s in [*view["out_of_scope"], *cfg.limitations]],
            "tradeoffs": [{"description": s} for s in view["tradeoffs"]],
            "ethical_considerations": view["ethics"],
        },
        "provenance": facts.provenance,
        "promotion": facts.promotion,
    }  # fmt: skip
