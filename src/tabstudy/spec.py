"""The feature contract shared by every stage after ``features``: which columns the model reads,
their kinds, as-of rules and meanings, the label column and the slices evaluation breaks metrics
down by.

A study plugin (:mod:`tabstudy.studies`) builds a :class:`FeatureSet`; the features stage writes
it beside the processed splits (``feature_spec.json``) and the model bundle carries a copy. Models,
evaluation, monitoring, the model card and serving read it from there: they never import a study.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from tabstudy import artifacts, paths

LABEL = "y"
"""The 0/1 label column of every processed split (1 = the positive class)."""
MISSING_CATEGORY = "__missing__"
"""What a missing categorical value becomes before it reaches a model."""
IMBALANCED_SHARE = 0.10
"""Below this positive share a study is called imbalanced (EDA, card: PR AUC beside ROC AUC)."""
MIN_TEST_POSITIVES = 100
"""Fewer positives than this in the test split: intervals are wide, and the card says so."""


class ColumnError(ValueError):
    """A step of a stage failed on one column: the message names the step, the column and the
    way on (the stage runner prints it as the stage's failure)."""


COLUMN_HINT = (
    "Check the column's kind (params.yaml features.categorical / features.numeric, or "
    "features.exclude) and its values."
)


@contextmanager
def about_column(
    column: str, step: str, hint: str = COLUMN_HINT, error: type[ColumnError] = ColumnError
) -> Iterator[None]:
    """Re-raise a ``TypeError``/``ValueError``/``OverflowError`` of ``step`` done on one column
    as ``error`` (a :class:`ColumnError`): ``"<step> of column '<column>' failed: <error>.
    <hint>"``. A :class:`ColumnError` raised inside (by a deeper step) passes unchanged.
    """
    try:
        yield
    except ColumnError:
        raise
    except (TypeError, ValueError, OverflowError) as err:
        raise error(
            f"{step} of column '{column}' failed: {type(err).__name__}: "
            f"{str(err).rstrip('.')}. {hint}"
        ) from err


def safe_name(column: str) -> str:
    """A Keras- and SavedModel-safe input name for a column."""
    name = re.sub(r"\W+", "_", str(column)).strip("_")
    return name if name and not name[0].isdigit() else f"f_{name}"


@dataclass(frozen=True)
class Feature:
    """One model input: its name, type, source table, as-of rule and meaning."""

    name: str
    kind: Literal["categorical", "numeric"]
    source: str
    asof: str
    description: str


@dataclass(frozen=True)
class Words:
    """How the report pages name a study's rows, its positive class and its time, so a generic
    page speaks of the study it ran on (the defaults suit any table; the flights study says
    "flight", "late", "the scheduled departure").

    Attributes:
        row: one example ("row"; "flight").
        rows: several ("rows"; "flights").
        positive: what ``y = 1`` is called, as an adjective ("positive"; "late").
        outcome: what the features predict, in a sentence ("the target"; "delays").
        time: what dates a row ("" when the rows have no time; "the scheduled departure").
        event: what a label arrives some days after ("the row's time"; "the flight").
    """

    row: str = "row"
    rows: str = "rows"
    positive: str = "positive"
    outcome: str = "the target"
    time: str = ""
    event: str = "the row's time"

    @classmethod
    def of_table(cls, time_column: str | None) -> Words:
        """The words of a table of your own, dated by ``time_column`` when it has one."""
        if not time_column:
            return cls()
        return cls(time=f"`{time_column}`", event=f"the row's `{time_column}`")


@dataclass(frozen=True)
class FeatureSet:
    """The features in force, the columns evaluation slices by, and what the label means.

    Attributes:
        features: the model inputs, in input order.
        slices: columns of the processed splits that evaluation breaks metrics down by.
        label_definition: one sentence saying when :data:`LABEL` is 1 (for reports and cards).
        description: what the rows are and how they were split (for reports and cards).
        time_column: the column of the processed splits holding each row's date or time, when
            the rows have one (time-ordered splits).
        study: the ``data.source`` of the study that built it (serving asks that plugin).
        leakage_auc: the bound a single feature's ROC AUC (and the model's test ROC AUC) must
            stay under (``features.leakage_auc``; None: not checked).
        leaky: features above that bound that the study accepts, each with the reason given
            (``features.allow_leaky``; the model card shows them).
        strongest: the feature that alone separates the label best on the training window, and
            that ROC AUC (None: not scored).
        words: how the report pages name the rows (:class:`Words`).
    """

    features: tuple[Feature, ...]
    slices: tuple[str, ...] = ()
    label_definition: str = ""
    description: str = ""
    time_column: str | None = None
    study: str = ""
    leakage_auc: float | None = None
    leaky: dict[str, str] = field(default_factory=dict)
    words: Words = field(default_factory=Words)
    strongest: tuple[str, float] | None = None

    def categorical(self) -> list[str]:
        """Names of the categorical features, in input order."""
        return [f.name for f in self.features if f.kind == "categorical"]

    def numeric(self) -> list[str]:
        """Names of the numeric features, in input order."""
        return [f.name for f in self.features if f.kind == "numeric"]

    def names(self) -> list[str]:
        """Names of every feature, in input order."""
        return [f.name for f in self.features]

    def table(self) -> pd.DataFrame:
        """The spec as a table (for notebooks and the model card)."""
        return pd.DataFrame([asdict(f) for f in self.features])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (:meth:`from_dict` reads it back)."""
        return {
            "features": [asdict(f) for f in self.features],
            "slices": list(self.slices),
            "label_definition": self.label_definition,
            "description": self.description,
            "time_column": self.time_column,
            "study": self.study,
            "leakage_auc": self.leakage_auc,
            "leaky": dict(self.leaky),
            "words": asdict(self.words),
            "strongest": list(self.strongest) if self.strongest else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSet:
        """The inverse of :meth:`to_dict`."""
        return cls(
            tuple(Feature(**f) for f in data["features"]),
            tuple(data.get("slices", ())),
            str(data.get("label_definition", "")),
            str(data.get("description", "")),
            data.get("time_column"),
            str(data.get("study", "")),
            data.get("leakage_auc"),
            dict(data.get("leaky") or {}),
            Words(**data.get("words", {})),
            _strongest(data.get("strongest")),
        )


def _strongest(value: Any) -> tuple[str, float] | None:
    """``[name, auc]`` as read from JSON, as a tuple (None stays None)."""
    return (str(value[0]), float(value[1])) if value else None


def save_spec(spec: FeatureSet, path: Path) -> None:
    """Write the feature set as JSON (atomically)."""
    artifacts.write_json(spec.to_dict(), path)


def load_spec(path: Path | None = None) -> FeatureSet:
    """Read the feature set the features stage wrote (default: the project's)."""
    return FeatureSet.from_dict(artifacts.read_json(path or paths.feature_spec()))
