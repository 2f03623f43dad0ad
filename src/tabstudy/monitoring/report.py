"""One monitoring report over time, for the monitor stage (the test window's rows) and for served
traffic (the request log, ``tabstudy monitor --requests``): the same windows,
tests, estimates, alert rules and sentences from the same code, so the two can be compared row
for row.

The :class:`Reference` is fixed when the model is deployed (the monitor stage writes it): the
validation window's ROC AUC and its bootstrap interval, the validation scores (the reference of
prediction drift) and the calibrator of the confidence-based estimate, fitted on the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabstudy import artifacts
from tabstudy.config import MonitorConfig
from tabstudy.monitoring import performance, plots, rules, windows
from tabstudy.monitoring.alerts import first_window
from tabstudy.spec import Words

WINDOW = "window"
SCORE = "score"
TIME = "time"
LABEL_COLUMN = "label"
UNTIMED_START = "1970-01-01"
"""The internal date :func:`monitor` gives the one window of rows without a :data:`TIME`
column (never shown or written: see :func:`without_time_axis`)."""
UNTIMED_WINDOW = "test split"
"""What the one window of rows without time is called on pages, findings and the card."""


@dataclass(frozen=True)
class Reference:
    """What a monitored window is compared with (see the module docstring)."""

    roc_auc: float
    auc_lo: float
    auc_hi: float
    scores: np.ndarray
    calibrator: performance.Calibrator
    start: str | None
    """The first day monitored (the deployment: ``features.split.test_start``); None when the
    rows have no time (a served model's requests are then monitored from the first one)."""
    model_version: str

    def auc(self) -> dict[str, float]:
        """The reference ROC AUC and its interval, as the alert rules read it."""
        return {"roc_auc": self.roc_auc, "auc_lo": self.auc_lo, "auc_hi": self.auc_hi}

    def write(self, directory: Path) -> None:
        """``reference.json`` (AUC, interval, calibrator, start, model) and
        ``reference_scores.parquet`` in ``directory``."""
        meta = {**self.auc(), "start": self.start, "model_version": self.model_version,
                "calibrator": self.calibrator.to_dict(), "scores": len(self.scores)}  # fmt: skip
        artifacts.write_parquet(
            pd.DataFrame({SCORE: self.scores}), directory / "reference_scores.parquet"
        )
        artifacts.write_json(meta, directory / "reference.json")

    @classmethod
    def read(cls, directory: Path) -> Reference:
        """What :meth:`write` wrote; :class:`ValueError` naming the file when it is missing."""
        meta_file = directory / "reference.json"
        if not meta_file.is_file():
            raise ValueError(
                f"{meta_file}: no monitoring reference here; run the monitor stage "
                "(dvc repro monitor) for the served model first"
            )
        meta = artifacts.read_json(meta_file)
        scores = pd.read_parquet(directory / "reference_scores.parquet")[SCORE].to_numpy(float)
        return cls(
            float(meta["roc_auc"]), float(meta["auc_lo"]), float(meta["auc_hi"]), scores,
            performance.Calibrator.from_dict(meta["calibrator"]),
            None if meta.get("start") is None else str(meta["start"]),
            str(meta["model_version"]),
        )  # fmt: skip


def build_reference(
    y: np.ndarray,
    scores: np.ndarray,
    start: str | None,
    model_version: str,
    samples: int,
    seed: int,
) -> Reference:
    """The reference from the validation window's labels and the model's scores there
    (``start``: the first day monitored, None for rows without time)."""
    real = performance.realised(np.asarray(y), np.asarray(scores), samples, seed)
    calibrator = performance.Calibrator.fit(np.asarray(scores), np.asarray(y))
    return Reference(
        float(real["roc_auc"]), float(real["auc_lo"]), float(real["auc_hi"]),
        np.asarray(scores, dtype=float), calibrator, start, model_version,
    )  # fmt: skip


def labels_arrived_until(times: pd.Series, delay_days: float) -> pd.Timestamp:
    """The newest time whose labels have arrived: the day after the newest row ("now") minus the
    label delay. Rows before it have their outcome; rows from it on do not yet."""
    now = pd.Timestamp(times.max()).normalize() + pd.Timedelta(days=1)
    return now - pd.Timedelta(days=delay_days)


@dataclass
class Report:
    """The monitor's tables, alerts and sentences."""

    windows: pd.DataFrame
    drift: pd.DataFrame
    prediction: pd.DataFrame
    performance: pd.DataFrame
    alerts: list[dict[str, Any]]
    findings: list[str]
    facts: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The monitor's DVC metrics: counts and first alert windows (the tables are plots)."""
        labelled = self.performance[self.performance["labelled"].astype(bool)]
        gap = (labelled["est_auc"] - labelled["roc_auc"]).abs()
        return {
            **self.facts,
            "windows": len(self.windows),
            "alerts": len(self.alerts),
            "feature_drift_windows": int(sum(a["rule"] == "feature_drift" for a in self.alerts)),
            "first_feature_drift": first_window(self.alerts, "feature_drift"),
            "first_prediction_drift": first_window(self.alerts, "prediction_drift"),
            "first_performance_alert": rules.first_of(self.alerts, rules.performance_rules()),
            "labelled_windows": len(labelled),
            "max_abs_estimation_error": float(gap.max()) if len(gap) else None,
        }

    def write(self, directory: Path, plots: Path | None = None) -> None:
        """``alerts.json`` and ``findings.json`` in ``directory``; the tables as CSV in
        ``plots`` (the DVC plots folder) or ``directory``."""
        tables = plots or directory
        artifacts.write_csv(self.windows, tables / "windows.csv")
        artifacts.write_csv(self.drift, tables / "drift_over_time.csv")
        artifacts.write_csv(self.prediction, tables / "prediction_drift.csv")
        artifacts.write_csv(self.performance, tables / "performance.csv")
        artifacts.write_json({"alerts": self.alerts, "summary": self.summary()},
                             directory / "alerts.json")  # fmt: skip
        artifacts.write_json(self.findings, directory / "findings.json")


def monitor(
    reference_rows: pd.DataFrame,
    rows: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    families: Mapping[str, str],
    reference: Reference,
    cfg: MonitorConfig,
    min_roc_auc: float,
    seed: int,
    bins: int = 10,
    reference_stats: Mapping[str, Any] | None = None,
    words: Words | None = None,
) -> Report:
    """The report of ``rows`` (features, :data:`SCORE`, :data:`TIME` as a day or timestamp, and
    :data:`LABEL_COLUMN` with NaN where the outcome is unknown) against the training window's
    ``reference_rows`` and the deployment ``reference``; the findings speak of the rows in
    ``words`` (the spec's :class:`~tabstudy.spec.Words`; default: a table's).

    Rows without a :data:`TIME` column (a table without time) are one window with every label
    known, reported by :func:`without_time_axis`: no date anywhere. Without ``reference.start``,
    windows start at the first row's day.
    """
    limits = rules.thresholds(cfg.rules)  # a bad monitor.rules fails before any work
    frame = rows.copy()
    untimed = TIME not in frame.columns
    if untimed:  # one window; every label is known (no time for it to arrive in)
        frame[TIME] = pd.Timestamp(UNTIMED_START)
        cfg = cfg.model_copy(update={"label_delay_days": 0.0})
    frame[TIME] = pd.to_datetime(frame[TIME]).dt.normalize()
    start = pd.Timestamp(UNTIMED_START if untimed else reference.start or frame[TIME].min())
    frame[WINDOW] = windows.assign_windows(frame[TIME], start, cfg.window)
    frame = frame[frame[WINDOW].notna()].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no monitored row on or after {reference.start} (the deployment date)")
    until = labels_arrived_until(frame[TIME], cfg.label_delay_days)
    unknown = frame.loc[frame[LABEL_COLUMN].isna(), TIME]
    if len(unknown):  # a window is labelled only when every row of it has its outcome
        until = min(until, unknown.min())
    drift = windows.drift_over_time(
        reference_rows, frame, WINDOW, categorical, numeric, bins, cfg.alpha, cfg.psi_warn,
        cfg.psi_alert, families, cfg.correction, dict(reference_stats) if reference_stats else None,
    )  # fmt: skip
    summary = windows.window_summary(drift)
    prediction = windows.prediction_drift(
        reference.scores, frame, WINDOW, SCORE, cfg.alpha, cfg.prediction_psi_alert
    )
    perf = performance.performance_over_time(
        frame, WINDOW, SCORE, LABEL_COLUMN, until, TIME, reference.calibrator,
        cfg.bootstrap_samples, cfg.estimation_draws, seed,
    )  # fmt: skip
    evidence = rules.Evidence(
        summary, prediction, perf, reference.auc(), min_roc_auc, cfg.label_delay_days,
        cfg.alpha, cfg.psi_alert, cfg.prediction_psi_alert, drift=drift,
        unseen=rules.unseen_shares(reference_rows, frame, WINDOW, categorical),
        words=words or Words(),
    )  # fmt: skip
    fired = rules.alerts(evidence, limits)
    found = rules.findings(evidence, fired, limits)
    facts = {
        "rows": len(frame),
        "first_window": str(frame[WINDOW].min()),
        "labels_until": until.date().isoformat(),
        "model_version": reference.model_version,
    }
    report = Report(summary, drift, prediction, perf, fired, found, facts)
    return without_time_axis(report) if untimed else report


def figures(report: Report, reference: Reference, cfg: MonitorConfig) -> dict[str, Any]:
    """The report's figures by name: drift over time, prediction drift, performance (one
    drift figure without a time axis, :func:`untimed_figure`)."""
    if report.facts.get("time_axis") is False:
        return {"drift_over_time": untimed_figure(report)}
    share = rules.thresholds(cfg.rules)["feature_drift"]["max_drifted_share"]
    return {
        "drift_over_time": plots.plot_drift_over_time(report.windows, cfg, share),
        "prediction_drift": plots.plot_prediction_drift(report.prediction, cfg),
        "performance": plots.plot_performance_over_time(
            report.performance, reference.auc(), report.alerts
        ),
    }


def without_time_axis(report: Report) -> Report:
    """The report of rows without a time column, monitored as one window dated
    :data:`UNTIMED_START`: that window is called :data:`UNTIMED_WINDOW` everywhere, no date is
    shown, and the findings open by saying that monitoring over time is not applicable."""

    def relabel(table: pd.DataFrame) -> pd.DataFrame:
        if WINDOW not in table.columns:
            return table
        return table.assign(**{WINDOW: UNTIMED_WINDOW})

    alerts = [{**a, "window": UNTIMED_WINDOW} for a in report.alerts]
    rows = int(report.facts.get("rows", 0))
    opening = (
        "No time axis: the rows have no time column (a random split), so monitoring over time "
        f"is not applicable; the {UNTIMED_WINDOW} ({rows:,} rows) was checked once, as one "
        "window, against the training window."
    )
    found = [
        s.replace(f"{UNTIMED_START} to {UNTIMED_START}", UNTIMED_WINDOW).replace(
            UNTIMED_START, f"the {UNTIMED_WINDOW}"
        )
        for s in report.findings[1:]  # the first says how many windows, and when
    ]
    facts = {**report.facts, "first_window": UNTIMED_WINDOW, "labels_until": None,
             "time_axis": False}  # fmt: skip
    return Report(
        relabel(report.windows), relabel(report.drift), relabel(report.prediction),
        relabel(report.performance), alerts, [opening, *found], facts,
    )  # fmt: skip


def untimed_figure(report: Report) -> Any:
    """The figure of a report without a time axis: the largest PSI per feature family of its
    one window against the training window, with the thresholds (no date axis)."""
    import matplotlib.pyplot as plt

    row = report.windows.iloc[0] if len(report.windows) else pd.Series(dtype=float)
    psi = {c.removeprefix("psi_"): float(row[c]) for c in row.index if c.startswith("psi_")}
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(list(psi), list(psi.values()), color="#4C72B0")
    ax.set(title=f"{UNTIMED_WINDOW} against the training window (no time axis)",
           xlabel="largest PSI in the family", ylabel="feature family")  # fmt: skip
    fig.tight_layout()
    return fig


def performance_note(words: Words) -> str:
    """How the page's performance figures are made, in Markdown and the study's words (the
    labels' delay counts from :attr:`~tabstudy.spec.Words.event`; rows without time have every
    label at once)."""
    realised = (
        f"Once the labels have arrived (`monitor.label_delay_days` after {words.event}), the "
        "realised ROC AUC and Brier score with bootstrap intervals. Before that, a label-free "
        "**estimate**"
        if words.time
        else "The realised ROC AUC and Brier score with bootstrap intervals (no time axis: "
        "every label is known), and beside them a label-free **estimate**"
    )
    return (
        f"**Performance.** {realised} in the spirit of NannyML's CBPE: calibrated on the "
        f"validation window, the scores say how likely each {words.row} is {words.positive}; "
        "drawing outcomes from those probabilities gives the expected ROC AUC and Brier score "
        "with the spread of the draws as the estimate's stated error. The estimate sees a "
        f"change in *which* {words.rows} are scored (covariates, scores); it cannot see a change "
        f"in *how* the features relate to {words.outcome} (concept drift): only labels show "
        "that."
    )
