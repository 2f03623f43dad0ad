"""The README's "what the study found" block, generated from the files a run wrote.

Every number the README shows is computed by the run that shows it, and every sentence of
findings is generated from those numbers: :func:`render_block` builds the block from

- ``metrics/detail/evaluate.json``: each model's test scores, ROC AUC interval and the blessing;
- ``metrics/detail/features.json``: the test window and its rows;
- ``metrics/detail/eda.json``: the labelled rows and their positive rate;
- ``metrics/detail/ingest.json``: the profile that ran;
- ``metrics/detail/backtest.json``: the rolling-origin means, the delay-propagation gains and
  the retraining policies;
- ``metrics/detail/monitor.json``: the monitoring windows and when each kind of alert first
  fired;

and :func:`update_readme` puts it between :data:`START` and :data:`END` in ``README.md``,
atomically. Equal reports give equal bytes, so after a fresh clone's ``make repro`` the README
is unchanged. The champion gate's decision is left out on purpose: it depends on the registry
(a second run judges against the first), not only on the data and the code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabstudy import artifacts, paths

START = "<!-- findings:start -->"
END = "<!-- findings:end -->"
CANDIDATE = "model"
"""The code name of the candidate model in the metrics files (the baselines have theirs)."""
CHANCE = "majority"
"""The code name of the chance-level baseline (left out of the spread of the learned models)."""
BACKTEST_ALIASES = {"keras": CANDIDATE}
"""The backtest's code names that differ from the evaluate stage's (the same model)."""

EVALUATE = "metrics/detail/evaluate.json"
FEATURES = "metrics/detail/features.json"
EDA = "metrics/detail/eda.json"
INGEST = "metrics/detail/ingest.json"
BACKTEST = "metrics/detail/backtest.json"
MONITOR = "metrics/detail/monitor.json"
SOURCES = (EVALUATE, FEATURES, EDA, INGEST, BACKTEST, MONITOR)
"""Every file the block is built from, relative to the reports folder."""


class MissingReport(FileNotFoundError):
    """A file the findings block is built from is not there (the message names it and says how
    to produce it)."""


@dataclass(frozen=True)
class ModelScore:
    """One model's test scores, as the evaluate stage measured them."""

    code: str
    name: str
    roc_auc: float
    low: float
    high: float
    pr_auc: float
    brier: float


def read_report(reports: Path, rel: str) -> Any:
    """The JSON file ``rel`` under ``reports``.

    Raises:
        MissingReport: the file is absent or not JSON; the message names it and the command
            that writes it.
    """
    path = Path(reports) / rel
    if not path.is_file():
        raise MissingReport(
            f"{path}: missing; the README's findings are generated from a finished run's "
            "reports: run `make repro` (or pass --reports DIR of a finished run)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise MissingReport(f"{path}: not valid JSON ({err}); run `make repro` again") from None


def model_scores(evaluate: Mapping[str, Any], names: Mapping[str, str]) -> list[ModelScore]:
    """Every model of ``evaluate.json``, best test ROC AUC first (ties by code name)."""
    out = []
    for code, score in evaluate["test"].items():
        low, high = evaluate["roc_auc_ci95"][code]
        name = names.get(code, code)
        out.append(ModelScore(code, name, score["roc_auc"], low, high, score["pr_auc"],
                              score["brier"]))  # fmt: skip
    return sorted(out, key=lambda s: (-s.roc_auc, s.code))


def scores_table(scores: Sequence[ModelScore]) -> str:
    """A markdown table: model, test ROC AUC with its 95% interval, PR AUC, Brier score; the
    candidate's ROC AUC in bold."""
    lines = [
        "| model | test ROC AUC [95% bootstrap CI] | PR AUC | Brier |",
        "|---|---|---:|---:|",
    ]
    for s in scores:
        auc = f"**{s.roc_auc:.3f}**" if s.code == CANDIDATE else f"{s.roc_auc:.3f}"
        lines.append(
            f"| {s.name} | {auc} [{s.low:.3f}, {s.high:.3f}] | {s.pr_auc:.3f} | {s.brier:.3f} |"
        )
    return "\n".join(lines)


def window_line(features: Mapping[str, Any], eda: Mapping[str, Any], profile: str) -> str:
    """Which run, which test window and how many rows, with the positive rates."""
    test = features["splits"]["test"]
    return (
        f"Profile `{profile}`; test window {test['first_date']} to {test['last_date']}: "
        f"{test['rows']:,} rows, {test['positive_rate']:.1%} positive "
        f"({eda['rows']:,} labelled rows in all, {eda['positive_rate']:.1%} positive)."
    )


def spread_sentence(scores: Sequence[ModelScore]) -> str:
    """How far apart the learned models are, whether their intervals overlap, and the chance
    baseline's score."""
    learned = [s for s in scores if s.code != CHANCE]
    low, high = min(s.roc_auc for s in learned), max(s.roc_auc for s in learned)
    overlap = max(s.low for s in learned) <= min(s.high for s in learned)
    text = (
        f"The {len(learned)} learned models' test ROC AUCs lie within {high - low:.3f} of each "
        f"other ({low:.3f} to {high:.3f}; best: {learned[0].name}), and their 95% intervals "
        f"{'all overlap' if overlap else 'do not all overlap'}"
    )
    chance = [s for s in scores if s.code == CHANCE]
    return text + (f"; the {chance[0].name} scores {chance[0].roc_auc:.3f}." if chance else ".")


def blessing_sentence(blessing: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The blessing gate's decision on the candidate, with the numbers it compared."""
    model = names.get(CANDIDATE, CANDIDATE)
    best = names.get(blessing["best_baseline"], blessing["best_baseline"])
    if not blessing["blessed"]:
        return f"{model} is not blessed: {'; '.join(blessing['reasons'])}."
    return (
        f"{model} is blessed: its test ROC AUC {blessing['roc_auc']:.3f} reaches the floor "
        f"{blessing['min_roc_auc']:g} and lies within {blessing['max_gap']:g} of the best "
        f"baseline, {best} ({blessing['best_baseline_roc_auc']:.3f})."
    )


def backtest_sentence(backtest: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The rolling-origin ranking, what the delay-propagation features add, and the best
    retraining policy against never retraining."""
    if not backtest.get("applicable", False):
        return "The rolling-origin backtest does not apply: the rows have no time column."
    named = {BACKTEST_ALIASES.get(k, k): v for k, v in backtest["roc_auc_mean"].items()}
    ranking = ", ".join(
        f"{names.get(k, k)} {v:.4f}" for k, v in sorted(named.items(), key=lambda kv: -kv[1])
    )
    text = f"Rolling origin over {backtest['folds']} folds, mean fold ROC AUC: {ranking}"
    gains = backtest.get("delay_propagation_gain") or {}
    if gains:
        text += (
            f"; the delay-propagation features add {min(gains.values()):+.4f} to "
            f"{max(gains.values()):+.4f} to every model"
        )
    return text + policy_clause(backtest)


def policy_clause(backtest: Mapping[str, Any]) -> str:
    """``; retraining ...`` for the best policy against ``never``, or ``.`` without one."""
    means = backtest.get("policy_roc_auc_mean") or {}
    if "never" not in means or len(means) < 2:
        return "."
    best = max((k for k in means if k != "never"), key=lambda k: (means[k], k))
    trainings = (backtest.get("policy_trainings") or {}).get(best)
    paid = f", for {trainings} trainings" if trainings is not None else ""
    return (
        f"; of the retraining policies, `{best}` has the best mean monthly ROC AUC, "
        f"{means[best]:.4f}, {means[best] - means['never']:+.4f} over never retraining{paid}."
    )


def monitor_sentence(monitor: Mapping[str, Any]) -> str:
    """When drift and performance alerts first fired, and how far the label-free estimate
    missed the realised ROC AUC."""
    windows = monitor["windows"]
    text = (
        f"Monitoring {windows} window(s) from {monitor['first_window']}: feature drift in "
        f"{monitor.get('feature_drift_windows', 0)} of them"
    )
    for key, what in (("first_feature_drift", "first"),
                      ("first_prediction_drift", "prediction drift first"),
                      ("first_performance_alert", "a performance alert first")):  # fmt: skip
        if monitor.get(key):
            text += f", {what} {monitor[key]}"
    error = monitor.get("max_abs_estimation_error")
    if error is not None:
        text += (
            f"; over {monitor.get('labelled_windows', 0)} labelled window(s) the label-free "
            f"estimate missed the realised ROC AUC by up to {error:.3f}"
        )
    return text + "."


def render_block(reports: Path, names: Mapping[str, str] | None = None) -> str:
    """The whole block, markers included, from the files under ``reports`` (:data:`SOURCES`).

    Args:
        reports: the reports folder of a finished run.
        names: what to call each model (default: the reports' names,
            :data:`tabstudy.evaluation.metrics.MODEL_NAMES`).

    Raises:
        MissingReport: naming the first file of :data:`SOURCES` that is missing.
    """
    if names is None:
        from tabstudy.evaluation.metrics import MODEL_NAMES

        names = MODEL_NAMES
    reports = Path(reports)
    data = {rel: read_report(reports, rel) for rel in SOURCES}
    scores = model_scores(data[EVALUATE], names)
    sentences = [
        spread_sentence(scores),
        blessing_sentence(data[EVALUATE]["blessing"], names),
        backtest_sentence(data[BACKTEST], names),
        monitor_sentence(data[MONITOR]),
    ]
    return "\n".join([
        START,
        "<!-- generated by `tabstudy docs --readme` from reports/ (make repro runs it) -->",
        window_line(data[FEATURES], data[EDA], data[INGEST]["profile"]),
        "",
        scores_table(scores),
        "",
        *(f"- {s}" for s in sentences),
        END,
    ])  # fmt: skip


def replace_block(text: str, block: str, where: str = "README.md") -> str:
    """``text`` with everything from :data:`START` to :data:`END` replaced by ``block``.

    Raises:
        ValueError: the markers are missing, repeated or out of order (``where`` names the file).
    """
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start or text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"{where}: needs one '{START}' line and, after it, one '{END}' line")
    return text[:start] + block + text[end + len(END) :]


def update_readme(readme: Path, reports: Path) -> bool:
    """Rewrite the findings block of ``readme`` from ``reports`` (atomically, never staged);
    return whether its bytes changed."""
    old = Path(readme).read_text(encoding="utf-8")
    new = replace_block(old, render_block(reports), str(readme))
    if new != old:
        artifacts.write_text(new, Path(readme), staged=False)
    return new != old


def readme_file() -> Path:
    """The project's ``README.md``."""
    return paths.root() / "README.md"


def main(reports: Path | None = None) -> int:
    """``tabstudy docs --readme``: rewrite the README's findings block from ``reports``
    (default: ``reports/``); return the exit status (2: a report or the markers missing)."""
    reports = Path(reports) if reports else paths.reports_dir()
    try:
        changed = update_readme(readme_file(), reports)
    except (MissingReport, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    state = "rewritten" if changed else "unchanged (already what the reports say)"
    print(f"README.md: findings block {state}, from {paths.rel(reports)}")
    return 0
