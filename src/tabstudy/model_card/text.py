"""The model card's sentences, each computed from its facts: findings, imbalance, promotion, ethical
considerations, trade-offs, and the derived view the templates show."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from tabstudy.model_card.facts import (
    CardFacts,
    calibration_summary,
    min_slice_rows,
    slice_label,
    slice_results,
)
from tabstudy.model_card.format import interval
from tabstudy.spec import IMBALANCED_SHARE, MIN_TEST_POSITIVES


def findings(facts: CardFacts) -> list[str]:
    """The card's summary, computed from its facts: the verdict, the model's test score with its
    interval against the best baseline, what the threshold does on the test rows and, when there
    is one, the promotion decision."""
    b, names = facts.blessing, facts.names
    part = facts.extra.get("part", "split")
    model = names.get("model", "the model")
    auc = float(facts.scores.loc["model", "roc_auc"])
    lo, hi = facts.intervals.get("model") or (None, None)
    interval = f" [{lo:.4f}, {hi:.4f}]" if lo is not None else ""
    verdict = "blessed" if b["blessed"] else "not blessed (" + "; ".join(b["reasons"]) + ")"
    base = names.get(b["best_baseline"], b["best_baseline"])
    train = facts.splits.loc["train"] if "train" in facts.splits.index else None
    test = facts.splits.loc["test"] if "test" in facts.splits.index else None
    both = train is not None and test is not None
    caution = imbalance_sentence(train, test, part) if both else ""
    pr = ""
    if caution:  # PR AUC beside ROC AUC, with its chance level (the test positive share)
        pr = (f" (PR AUC {float(facts.scores.loc['model', 'pr_auc']):.4f}; chance level "
              f"{float(test['positive_rate']):.4f})")  # fmt: skip
    out = [
        f"{model} is {verdict}: test ROC AUC {auc:.4f}{interval}{pr} against "
        f"{b['best_baseline_roc_auc']:.4f} for the best baseline, {base}.",
        *(f"WARNING: {w}." for w in b.get("warnings", []) if w not in verdict),
    ]
    if train is not None and test is not None:
        out.append(
            f"Trained on {int(train['rows']):,} rows ({100 * float(train['positive_rate']):.1f}% "
            f"positive), tested on {int(test['rows']):,} held-out rows of the test {part} "
            f"({100 * float(test['positive_rate']):.1f}% positive)."
        )
    if caution:
        out.append(caution)
    weighted = (facts.training or {}).get("class_weight")
    if weighted:
        w0, w1 = weighted["weights"]
        out.append(
            f"Trained with balanced class weights ({w0:.3f} for negatives, {w1:.3f} for "
            f"positives; train.class_weight); the output logit was then shifted by "
            f"{weighted['logit_shift']:+.3f} so its probabilities estimate the real positive rate."
        )
    t = facts.extra.get("test_threshold") or {}
    if t:
        out.append(
            f"At the threshold {facts.extra['threshold']['value']:.4f} chosen on the validation "
            f"{part}, the model flags {100 * t['positive_share']:.1f}% of test rows with precision "
            f"{t['precision']:.3f} and recall {t['recall']:.3f}."
        )
    promotion = promotion_sentence(facts.promotion)
    if promotion:
        out.append(promotion)
    return out


def imbalance_sentence(train: pd.Series, test: pd.Series, part: str = "split") -> str:
    """A caution when the positive share of the training rows is below
    :data:`~tabstudy.spec.IMBALANCED_SHARE` or the test ``part`` holds fewer than
    :data:`~tabstudy.spec.MIN_TEST_POSITIVES` positives (empty otherwise); ``train`` and
    ``test`` are rows of the split summary (``rows``, ``positive_rate``)."""
    share = float(train["positive_rate"])
    positives = round(float(test["rows"]) * float(test["positive_rate"]))
    parts = []
    if share < IMBALANCED_SHARE:
        parts.append(
            f"only {100 * share:.1f}% of training rows are positive (imbalanced: ROC AUC can "
            "stay high while most flagged rows are false alarms, so PR AUC is shown beside it)"
        )
    if positives < MIN_TEST_POSITIVES:
        parts.append(
            f"the test {part} holds only {positives:,} positive(s), fewer than "
            f"{MIN_TEST_POSITIVES}: its intervals are wide and a slice's score rests on a few cases"
        )
    return ("Caution: " + "; ".join(parts) + ".") if parts else ""


ARCHITECTURE = (
    "Keras MLP over embedded categorical and standardised numeric features; preprocessing is "
    "inside the exported model, which takes raw features."
)
"""What the card says the model is (the keras model of :mod:`tabstudy.models.keras_model`)."""


SENTENCE = re.compile(r"(?<=[.!?])\s+")


def split_use(text: str) -> tuple[list[str], list[str]]:
    """The intended-use text as (in-scope sentences, out-of-scope sentences): a sentence that
    starts with "Not " or "Do not " is out of scope."""
    sentences = [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]
    out = [s for s in sentences if s.startswith(("Not ", "Do not "))]
    return [s for s in sentences if s not in out], out


def promotion_sentence(promotion: dict[str, Any] | None) -> str | None:
    """One sentence on the champion/challenger decision, None without one."""
    if not promotion:
        return None
    version = promotion.get("version")
    named = f" (version {version})" if version else ""
    if promotion["decision"] == "champion":
        return f"This bundle is the registered champion{named}."
    champion = promotion.get("champion")
    of = f" (version {champion['version']})" if champion else ""
    overall, text = promotion.get("overall"), ""
    if overall:
        text = (
            f": test ROC AUC {overall['challenger_roc_auc']:.4f} against "
            f"{overall['champion_roc_auc']:.4f} for the champion{of}, difference "
            f"{overall['diff']:+.4f} {interval(overall['lo'], overall['hi'])}"
        )
    elif not champion:
        text = ": there is no champion yet"
    reasons = promotion.get("reasons") or []
    why = ("; " + "; ".join(reasons)) if reasons else ""
    if promotion["decision"] == "promote":
        return f"The promotion gate promotes this bundle{named}{text}{why}."
    return f"The promotion gate refuses this bundle{named}{text}{why}."


def _slice_list(rows: pd.DataFrame, with_auc: bool) -> str:
    """``"carrier=HA (53 rows, ROC AUC 0.4361), ..."`` for the card's sentences."""

    def one(r: pd.Series) -> str:
        auc = f", ROC AUC {r['auc_model']:.4f}" if with_auc and pd.notna(r["auc_model"]) else ""
        return f"{slice_label(r)} ({int(r['rows']):,} rows{auc})"

    return ", ".join(one(r) for _, r in rows.iterrows())


def ethical_considerations(
    facts: CardFacts, slices: pd.DataFrame | None, min_rows: int | None
) -> list[dict[str, str]]:
    """Risks in the Model Card Toolkit's shape (``name``, ``mitigation_strategy``), each computed
    from the facts: rows left out of every split, slices with few test rows, slices ranked worse
    than the whole test set."""
    out: list[dict[str, str]] = []
    c = facts.coverage
    if c and c["left_out"]:
        out.append({
            "name": f"{c['left_out']:,} of {c['source_rows']:,} rows of the {c['table']} table "
                    f"({100 * c['share']:.1f}%) are in no split: the label definition leaves "
                    "them out, so the model was neither trained nor evaluated on them.",
            "mitigation_strategy": "The scores say nothing about these rows, and rates computed "
                                   "from the model understate outcomes where such rows cluster; "
                                   "state their share beside any such rate.",
        })  # fmt: skip
    if slices is not None and slices["few_rows"].any():
        rule = (
            f"fewer than {min_rows:,} test rows or no ROC AUC" if min_rows
            else "no ROC AUC (too few test rows to score)"
        )  # fmt: skip
        out.append({
            "name": f"Slices with {rule}: {_slice_list(slices[slices['few_rows']], True)}.",
            "mitigation_strategy": "Their metrics are too noisy to compare; do not rank or judge "
                                   "these groups with this model.",
        })  # fmt: skip
    if slices is not None and slices["below_ci"].any():
        out.append({
            "name": "The model ranks these slices worse than the lower bound of its overall 95% "
                    f"interval: {_slice_list(slices[slices['below_ci']], True)}.",
            "mitigation_strategy": "Check these slices' results before relying on the model "
                                   "there; the monitor stage follows them over time.",
        })  # fmt: skip
    return out


def tradeoffs(facts: CardFacts) -> list[str]:
    """The precision/recall trade-off of the decision threshold, from the evaluate metrics."""
    th, test = facts.extra.get("threshold") or {}, facts.extra.get("test_threshold") or {}
    if not th or not test:
        return []
    part = facts.extra.get("part", "split")
    return [
        f"The threshold {th['value']:.4f} ({th['rule']} on the validation {part}) flags "
        f"{100 * test['positive_share']:.1f}% of test rows with precision "
        f"{test['precision']:.3f} and recall {test['recall']:.3f}; a lower threshold finds more "
        "positives at the cost of more false alarms, a higher one the reverse."
    ]


def derived(facts: CardFacts) -> dict[str, Any]:
    """What the card computes from its facts once, for the templates and the JSON: slice results
    with flags, the few-rows rule, the calibration summary, the in- and out-of-scope uses, the
    ethical considerations, trade-offs, limitations, the model version and the run date."""
    few = min_slice_rows(facts.promotion)
    slices = (
        slice_results(facts.slices, facts.intervals.get("model"), few)
        if facts.slices is not None and not facts.slices.empty else None
    )  # fmt: skip
    in_scope, out_of_scope = split_use(facts.config.intended_use)
    date = (facts.provenance.get("run_date") or {}).get("date")
    return {
        "slices": slices,
        "min_slice_rows": few,
        "calibration": (
            calibration_summary(facts.calibration)
            if facts.calibration is not None and not facts.calibration.empty
            else None
        ),
        "in_scope": in_scope,
        "out_of_scope": out_of_scope,
        "ethics": ethical_considerations(facts, slices, few),
        "tradeoffs": tradeoffs(facts),
        "version": (facts.promotion or {}).get("version"),
        "date": date[:10] if date else None,
    }
