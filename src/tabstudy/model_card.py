"""The model card, in Markdown and HTML, filled only from the pipeline's own outputs."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from tabstudy import artifacts
from tabstudy.config import ModelCardConfig
from tabstudy.spec import IMBALANCED_SHARE, MIN_TEST_POSITIVES


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


CODE = re.compile(r"`([^`]+)`")


def code_html(text: str) -> markupsafe.Markup:
    """``text`` HTML-escaped, with Markdown inline code (`x`) shown as ``<code>x</code>``."""
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(CODE.sub(r"<code>\1</code>", escaped))


def number(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted by ``spec`` ("n/a" for None or NaN): the templates' ``num`` filter."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def interval(lo: Any, hi: Any) -> str:
    """A signed 95% interval, or "n/a" where none was computed (the gate bootstraps only the
    slices whose drop exceeds the allowed one): the templates' ``ci`` filter."""
    if number(lo) == "n/a" or number(hi) == "n/a":
        return "n/a"
    return f"[{lo:+.4f}, {hi:+.4f}]"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tabstudy", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = code_html
    env.filters["num"] = number
    env.filters["ci"] = interval
    return env


def _context(facts: CardFacts) -> dict[str, Any]:
    view = derived(facts)
    slices = view["slices"]
    if slices is not None:
        slices = slices.astype(object).where(slices.notna(), None)
    scores = facts.scores.reset_index(names="model")
    scores["name"] = [facts.names.get(m, m) for m in scores["model"]]
    splits = facts.splits.reset_index()
    splits["rows"] = splits["rows"].astype(int)
    dated = "first_date" in splits and bool(splits["first_date"].notna().any())
    for column in ("first_date", "last_date"):
        if column in splits:
            splits[column] = splits[column].where(splits[column].notna(), "n/a")
    return {
        "card": facts.config,
        "features": facts.features.to_dict("records"),
        "splits": splits.to_dict("records"),
        "dated": dated,  # rows without time: no date columns
        "scores": scores.to_dict("records"),
        "names": facts.names,
        "findings": findings(facts),
        "intervals": facts.intervals,
        "blessing": facts.blessing,
        "hparams": facts.hyperparameters,
        "training": facts.training,
        "extra": {"part": "split", **facts.extra},
        "architecture": ARCHITECTURE,
        "view": {**view, "slices": None if slices is None else slices.to_dict("records")},
        "calibration_bins": (
            [] if facts.calibration is None else facts.calibration.to_dict("records")
        ),
        "monitoring": facts.monitoring,
        "over_time": facts.over_time,
        "rolling": None if facts.rolling is None else facts.rolling.to_dict("records"),
        "promotion": facts.promotion,
        "provenance": facts.provenance,
        "coverage": facts.coverage,
    }


def render(facts: CardFacts, fmt: str) -> str:
    """Render the card as ``'md'`` or ``'html'`` (:func:`card_json` gives the JSON)."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown model card format {fmt!r}; use 'md' or 'html'")
    return _env().get_template(f"model_card.{fmt}.j2").render(**_context(facts))


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


def min_slice_rows(promotion: dict[str, Any] | None) -> int | None:
    """The fewest test rows a slice needs to count (the promotion gate's ``min_slice_rows``),
    None without a promotion decision (then only slices that could not be scored are few)."""
    rows = (promotion or {}).get("min_slice_rows")
    return int(rows) if rows else None


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


def optional_csv(path: Path, **read_csv: Any) -> pd.DataFrame | None:
    """The CSV at ``path`` (``read_csv`` options passed on), None where an older or partial run
    did not write it."""
    return pd.read_csv(path, **read_csv) if Path(path).is_file() else None


def optional_json(path: Path) -> Any:
    """The JSON at ``path``, None where it does not exist (e.g. the monitor stage's findings
    before that stage has run)."""
    return artifacts.read_json(path) if Path(path).is_file() else None
