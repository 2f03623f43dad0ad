"""The alert rules, as data: one declaration per rule holds its parameters, its check (the
alerts it fires per window) and its sentences (what the findings say of it).

A new rule touches three places: its declaration here (appended to :data:`RULES`), its
parameters under ``monitor.rules.<name>`` in ``params.yaml`` (checked against the declaration:
:func:`thresholds`), and its test. Everything else (the config section, the alert loop, the
order of alerts and findings, the notebook's parameters cell via ``tabstudy sync-parameters``)
follows from :data:`RULES`.

The rules, each judged per window:

- ``feature_drift``: the share of features alerting (corrected test rejects and PSI at least
  ``psi_alert``) exceeds ``max_drifted_share``;
- ``prediction_drift``: the score distribution drifted (see
  :func:`tabstudy.monitoring.windows.prediction_drift`);
- ``estimated_auc``: the whole interval of the estimated ROC AUC lies below the reference
  (validation window) interval;
- ``realised_auc``: the window is labelled and the whole interval of its realised ROC AUC lies
  below the reference interval;
- ``blessing``: the window is labelled and its realised ROC AUC is below the blessing gate's
  ``min_roc_auc``;
- ``unseen_categories``: more than ``max_unseen_share`` of a window's rows carry a value of one
  categorical feature that the training rows never had (a new carrier, a new code, a changed
  spelling upstream): the network maps it to its unknown bucket and the trees to "missing".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tabstudy.config import ConfigError
from tabstudy.monitoring.alerts import (
    alert,
    below_reference,
    drift_sentences,
    labelled,
    listed,
    performance_sentences,
    prediction_sentence,
    windows_of,
)
from tabstudy.spec import MISSING_CATEGORY, Words

Alert = dict[str, Any]
Thresholds = Mapping[str, float]


@dataclass(frozen=True)
class Evidence:
    """What the rules judge: the monitoring tables of every window and what they are compared
    with.

    Attributes:
        summary: :func:`~tabstudy.monitoring.windows.window_summary` (one row per window).
        prediction: :func:`~tabstudy.monitoring.windows.prediction_drift`.
        performance: :func:`~tabstudy.monitoring.performance.performance_over_time`.
        reference: the validation window's ``roc_auc``, ``auc_lo`` and ``auc_hi``.
        min_roc_auc: the blessing gate's threshold.
        label_delay_days: how long after its time a row's label arrives.
        alpha, psi_alert, prediction_psi_alert: the drift tests' levels (``monitor``), quoted
            by the messages.
        drift: :func:`~tabstudy.monitoring.windows.drift_over_time` (per feature and window).
        unseen: :func:`unseen_shares` (per categorical feature and window).
        words: how the findings name the rows.
    """

    summary: pd.DataFrame
    prediction: pd.DataFrame
    performance: pd.DataFrame
    reference: Mapping[str, float]
    min_roc_auc: float
    label_delay_days: float
    alpha: float
    psi_alert: float
    prediction_psi_alert: float
    drift: pd.DataFrame | None = None
    unseen: pd.DataFrame | None = None
    words: Words = field(default_factory=Words)


@dataclass(frozen=True)
class Param:
    """One threshold of a rule: its name under ``monitor.rules.<rule>``, its bounds and what
    it means."""

    name: str
    low: float
    high: float
    description: str

    def check(self, rule: str, value: Any) -> float:
        """``value`` as a float within the bounds; :class:`ConfigError` naming the key."""
        key = f"monitor.rules.{rule}.{self.name}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not self.low <= value <= self.high:
            raise ConfigError(f"{key}: {value!r} is outside [{self.low:g}, {self.high:g}]")
        return float(value)


@dataclass(frozen=True)
class Rule:
    """One alert rule (see the module docstring)."""

    name: str
    check: Callable[[Evidence, Thresholds], list[Alert]]
    """The alerts the rule fires, one per flagged window."""
    sentences: Callable[[Evidence, list[Alert], Thresholds], list[str]]
    """What the findings say of it, from the tables and every fired alert."""
    params: tuple[Param, ...] = ()
    performance: bool = False
    """A performance rule (the performance figure marks its windows)."""


# --- feature_drift ------------------------------------------------------------------------------


def _feature_drift(ev: Evidence, t: Thresholds) -> list[Alert]:
    share = t["max_drifted_share"]
    return [
        alert(r.window, "feature_drift", "drifted_share", r.drifted_share, share,
              f"{r.alerts} of {r.features} features drifted (corrected p < {ev.alpha:g} and "
              f"PSI >= {ev.psi_alert:g}) in the window starting {r.window}, more than the "
              f"{share:.0%} allowed; the largest is {r.max_psi_feature} (PSI {r.max_psi:.2f}).")
        for r in ev.summary.itertuples()
        if r.drifted_share > share
    ]  # fmt: skip


FEATURE_DRIFT = Rule(
    "feature_drift",
    _feature_drift,
    lambda ev, fired, t: drift_sentences(ev.summary, fired, ev.drift),
    (Param("max_drifted_share", 0.0, 1.0, "alert above this share of features alerting"),),
)


# --- prediction_drift ---------------------------------------------------------------------------


def _prediction_drift(ev: Evidence, t: Thresholds) -> list[Alert]:
    return [
        alert(r.window, "prediction_drift", "psi", r.psi, ev.prediction_psi_alert,
              f"The score distribution of the window starting {r.window} drifted from the "
              f"reference: PSI {r.psi:.3f} (alert at {ev.prediction_psi_alert:g}), KS statistic "
              f"{r.statistic:.3f}, corrected p {r.p_adjusted:.2g}; mean score "
              f"{r.mean_score:.4f}.")
        for r in ev.prediction.itertuples()
        if bool(r.drifted)
    ]  # fmt: skip


PREDICTION_DRIFT = Rule(
    "prediction_drift",
    _prediction_drift,
    lambda ev, fired, t: [prediction_sentence(ev.prediction, fired)],
)


# --- estimated_auc and realised_auc -------------------------------------------------------------


def _estimated_auc(ev: Evidence, t: Thresholds) -> list[Alert]:
    return below_reference(ev.performance, "estimated_auc", ("est_auc", "est_auc_lo", "est_auc_hi"),
                           float(ev.reference["auc_lo"]), "Estimated",
                           ", before its labels have been seen")  # fmt: skip


def _realised_auc(ev: Evidence, t: Thresholds) -> list[Alert]:
    columns = ("roc_auc", "auc_lo", "auc_hi")
    return below_reference(labelled(ev.performance), "realised_auc", columns,
                           float(ev.reference["auc_lo"]), "Realised", "")  # fmt: skip


def _below_reference_sentence(ev: Evidence, fired: list[Alert], t: Thresholds) -> list[str]:
    """One sentence for both interval rules: where either fell below the reference."""
    ref = ev.reference
    interval = f"{ref['roc_auc']:.4f} [{ref['auc_lo']:.4f}, {ref['auc_hi']:.4f}]"
    below = {r: windows_of(fired, r) for r in ("realised_auc", "estimated_auc")}
    if not (below["realised_auc"] or below["estimated_auc"]):
        return [
            f"Neither the realised nor the estimated ROC AUC fell wholly below the validation "
            f"window's {interval} in any window."
        ]
    parts = [
        f"{kind} ROC AUC in {len(w)} window(s), first {w[0]}"
        for kind, w in (("realised", below["realised_auc"]), ("estimated", below["estimated_auc"]))
        if w
    ]
    return [f"Performance fell wholly below the validation window's {interval}: "
            + "; ".join(parts) + "."]  # fmt: skip


ESTIMATED_AUC = Rule(
    "estimated_auc",
    _estimated_auc,
    lambda ev, fired, t: performance_sentences(ev.performance, ev.label_delay_days, ev.words),
    performance=True,
)
REALISED_AUC = Rule("realised_auc", _realised_auc, _below_reference_sentence, performance=True)


# --- blessing -----------------------------------------------------------------------------------


def _blessing(ev: Evidence, t: Thresholds) -> list[Alert]:
    gate = ev.min_roc_auc
    return [
        alert(r.window, "blessing", "roc_auc", r.roc_auc, gate,
              f"Realised ROC AUC {r.roc_auc:.4f} in the window starting {r.window} is below "
              f"the blessing gate's {gate:g}: the model would not be blessed on it.")
        for r in labelled(ev.performance).itertuples()
        if r.roc_auc < gate
    ]  # fmt: skip


def _blessing_sentence(ev: Evidence, fired: list[Alert], t: Thresholds) -> list[str]:
    gate, rows = ev.min_roc_auc, labelled(ev.performance)
    if rows.empty:
        return [
            f"The blessing (ROC AUC >= {gate:g}) cannot be checked on realised outcomes yet: "
            "no window is labelled."
        ]
    failed = windows_of(fired, "blessing")
    low = rows.loc[rows["roc_auc"].idxmin()]
    verdict = (
        f"no longer stands: it failed in {len(failed)} of {len(rows)} labelled windows, first "
        f"{failed[0]}"
        if failed
        else f"still stands in every one of the {len(rows)} labelled windows"
    )
    return [
        f"The blessing (ROC AUC >= {gate:g}) {verdict} (lowest {low['roc_auc']:.4f}, window "
        f"{low['window']})."
    ]


BLESSING = Rule("blessing", _blessing, _blessing_sentence, performance=True)


# --- unseen_categories --------------------------------------------------------------------------


def unseen_shares(
    train: pd.DataFrame, frame: pd.DataFrame, window: str, categorical: list[str]
) -> pd.DataFrame:
    """Per window and categorical feature: the rows, the share whose value the training rows
    never had (missing values are not unseen) and the most frequent such value."""
    parts, groups = [], frame.groupby(window, sort=True).groups
    for name in categorical:
        seen = set(train[name].dropna().astype(str))
        values = frame[name].astype("string")
        missing = values.isna() | (values == MISSING_CATEGORY)
        unseen = ~missing & ~values.isin(seen)
        for win, rows in groups.items():
            new = values.loc[rows][unseen.loc[rows]]
            parts.append({
                "window": str(win), "feature": name, "rows": len(rows),
                "unseen_share": float(len(new) / len(rows)) if len(rows) else 0.0,
                "example": str(new.value_counts().index[0]) if len(new) else "",
            })  # fmt: skip
    columns = ["window", "feature", "rows", "unseen_share", "example"]
    return pd.DataFrame(parts, columns=columns)


def _unseen(ev: Evidence, t: Thresholds) -> list[Alert]:
    table, most = ev.unseen, t["max_unseen_share"]
    if table is None or table.empty:
        return []
    worst = table.sort_values(["unseen_share", "feature"], ascending=[False, True])
    worst = worst.drop_duplicates("window").sort_values("window")
    return [
        alert(r.window, "unseen_categories", "unseen_share", r.unseen_share, most,
              f"{r.unseen_share:.1%} of the {r.rows:,} {ev.words.rows} in the window starting "
              f"{r.window} had a {r.feature} value the training rows never had (most often "
              f"{r.example!r}), more than the {most:.1%} allowed.")
        for r in worst.itertuples()
        if r.unseen_share > most
    ]  # fmt: skip


def _unseen_sentence(ev: Evidence, fired: list[Alert], t: Thresholds) -> list[str]:
    table, most = ev.unseen, t["max_unseen_share"]
    if table is None:  # not computed
        return []
    if table.empty:
        return ["No categorical feature to check for values unseen in training."]
    top = table.sort_values(["unseen_share", "feature", "window"],
                            ascending=[False, True, True]).iloc[0]  # fmt: skip
    flagged = windows_of(fired, "unseen_categories")
    peak = (
        f"the largest share of {ev.words.rows} with a value unseen in training was "
        f"{top['unseen_share']:.1%} ({top['feature']}, window {top['window']}"
        + (f", most often {top['example']!r})" if top["example"] else ")")
    )
    if flagged:
        return [f"Unseen categories were flagged in {len(flagged)} window(s) above "
                f"{most:.1%}, first {flagged[0]} ({listed(flagged)}); {peak}."]  # fmt: skip
    return [f"No window had more than {most:.1%} unseen categories in a feature: {peak}."]


UNSEEN_CATEGORIES = Rule(
    "unseen_categories",
    _unseen,
    _unseen_sentence,
    (Param("max_unseen_share", 0.0, 1.0, "alert above this share of a window's rows"),),
)


# --- all of them --------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    FEATURE_DRIFT, PREDICTION_DRIFT, ESTIMATED_AUC, REALISED_AUC, BLESSING, UNSEEN_CATEGORIES,
)  # fmt: skip
"""Every rule, in the order of alerts within a window and of the findings."""


def names() -> tuple[str, ...]:
    """The rules' names, in the order of :data:`RULES`."""
    return tuple(r.name for r in RULES)


def performance_rules() -> tuple[str, ...]:
    """The performance rules' names (the performance figure marks their windows)."""
    return tuple(r.name for r in RULES if r.performance)


def thresholds(section: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``monitor.rules`` checked against the declarations: every parameter of every rule,
    within its bounds, and nothing else.

    Raises:
        ConfigError: naming the key (``monitor.rules.<rule>.<param>``) that is unknown,
            missing or out of bounds.
    """
    known = names()
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(
            f"monitor.rules.{unknown[0]}: no such rule; the rules: {', '.join(known)}"
        )
    out: dict[str, dict[str, float]] = {}
    for rule in RULES:
        given = dict(section.get(rule.name) or {})
        declared = {p.name: p for p in rule.params}
        extra = sorted(set(given) - set(declared))
        if extra:
            has = f" (it has {', '.join(declared)})" if declared else ""
            raise ConfigError(f"monitor.rules.{rule.name}.{extra[0]}: not a parameter{has}")
        missing = [n for n in declared if n not in given]
        if missing:
            raise ConfigError(f"monitor.rules.{rule.name}.{missing[0]}: missing")
        out[rule.name] = {n: p.check(rule.name, given[n]) for n, p in declared.items()}
    return out


def alerts(evidence: Evidence, limits: Mapping[str, Thresholds]) -> list[Alert]:
    """Every fired alert (window, rule, metric, value, threshold, message), ordered by window,
    then by rule in the order of :data:`RULES`."""
    out = [a for rule in RULES for a in rule.check(evidence, limits[rule.name])]
    order = names()
    return sorted(out, key=lambda a: (a["window"], order.index(a["rule"])))


def findings(evidence: Evidence, fired: list[Alert], limits: Mapping[str, Thresholds]) -> list[str]:
    """Sentences computed from the tables and the fired alerts: what was monitored, then what
    each rule found, in the order of :data:`RULES`."""
    summary, performance = evidence.summary, evidence.performance
    windows = list(summary["window"]) if not summary.empty else list(performance["window"])
    rows = int(summary["rows"].sum()) if not summary.empty else int(performance["rows"].sum())
    features = int(summary["features"].max()) if not summary.empty else 0
    span = f" ({windows[0]} to {windows[-1]})" if windows else ""
    out = [f"Monitored {len(windows)} windows{span}: {rows:,} rows, {features} features each."]
    for rule in RULES:
        out += rule.sentences(evidence, fired, limits[rule.name])
    return out


def first_of(fired: list[Alert], names: tuple[str, ...]) -> str | None:
    """The earliest window with an alert of one of ``names``, or None."""
    found = [a["window"] for a in fired if a["rule"] in names]
    return min(found) if found else None
