"""Typed, frozen, validated configuration built from ``params.yaml`` sections.

``params.yaml`` is the one source of parameters and of their values: the models below declare
types and ranges but no defaults, so a key missing from params.yaml is an error naming it, never a
silent second default. The pipeline resolves the active *profile* once (:func:`resolve`: ``full``
= params as written, ``smoke`` etc. = the overrides under ``profiles.<name>`` merged in) and
injects the result into the stage's notebook; the notebook's first code cell calls
:func:`stage_config`, which validates the values into a frozen pydantic model that rejects
unknown keys and wrong types with a message naming the key.

The study-specific sections (``data``, ``target``, ``features``; :data:`STUDY_SPECIFIC`) are
declared beside each study (``tabstudy/studies/<study>/config.py``) and validated with the
models of the study that ``data.source`` names: a stage that reads them builds its config with
:func:`tabstudy.studies.stage_config`, which hands this module the study's models
(:data:`StudyModels`), so one study's keys cannot be set on another and this module imports no
study.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tabstudy import paths

PROFILE_ENV = "TABSTUDY_PROFILE"
FULL_PROFILE = "full"


class ConfigError(ValueError):
    """A parameter is unknown, missing or of the wrong type; the message names it."""


class Section(BaseModel):
    """A params.yaml section: unknown keys and wrong types are rejected; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ValidateConfig(Section):
    """The data contract and the thresholds of its soft rules (``validate`` section)."""

    contract: str = Field(description="the contract file")
    max_missing_share: float = Field(ge=0.0, le=1.0)
    max_out_of_range_share: float = Field(ge=0.0, le=1.0)
    max_unseen_category_share: float = Field(ge=0.0, le=1.0)
    min_rows: int = Field(ge=1, description="fewest rows the fact table may have")


class SplitConfig(Section):
    """Time-ordered split boundaries (first day of the valid and test windows)."""

    train_start: date | None = Field(
        description="first day of the training window (null: the first day of the data)"
    )
    valid_start: date
    test_start: date

    @model_validator(mode="after")
    def _ordered(self) -> SplitConfig:
        if self.train_start is not None and not self.train_start < self.valid_start:
            raise ValueError(
                f"train_start {self.train_start} must be before valid_start {self.valid_start}"
            )
        if not self.valid_start < self.test_start:
            raise ValueError(
                f"valid_start {self.valid_start} must be before test_start {self.test_start}"
            )
        return self


class FeaturesCommon(Section):
    """The ``features`` keys every study shares (each study's ``features`` model extends it)."""

    reference_bins: int = Field(ge=2, description="quantile bins of the drift reference")
    slices: list[str] = Field(description="columns to slice metrics by")
    leakage_auc: float = Field(
        gt=0.5,
        le=1.0,
        description="a feature alone (or the model on test) above this ROC AUC: suspected leakage",
    )
    allow_leaky: dict[str, str] = Field(
        description="features accepted above leakage_auc, each with the reason (shown in the card)"
    )


class BaselinesConfig(Section):
    """Baselines (``baselines`` section): logistic regression and the tree's search space."""

    logreg_c: float = Field(gt=0.0)
    hgb_trials: int = Field(ge=1, description="grid points tried (seeded random sample)")
    hgb_max_iter: int = Field(ge=1, description="most boosting iterations per candidate")
    hgb_learning_rate: list[float] = Field(min_length=1)
    hgb_max_leaf_nodes: list[int] = Field(min_length=1)
    hgb_min_samples_leaf: list[int] = Field(min_length=1)
    hgb_l2_regularization: list[float] = Field(min_length=1)
    lgbm_learning_rate: float = Field(gt=0.0, le=1.0)
    lgbm_num_leaves: int = Field(ge=2)
    lgbm_min_child_samples: int = Field(ge=1)
    lgbm_max_iter: int = Field(ge=1, description="cap; early stopping on the valid window")


class TuneConfig(Section):
    """keras-tuner search (``tune`` section); the search space is here too."""

    max_trials: int = Field(ge=1)
    initial_points: int = Field(ge=1, description="random draws before the model guides")
    epochs: int = Field(ge=1)
    min_steps: int = Field(ge=0, description="epochs raised to allow this many steps a trial")
    batch_size: list[int] = Field(min_length=1, description="batch sizes to try")
    units: list[int] = Field(min_length=1)
    min_layers: int = Field(ge=1)
    max_layers: int = Field(ge=1)
    dropout_max: float = Field(ge=0.0, lt=1.0)
    lr_min: float = Field(gt=0.0)
    lr_max: float = Field(gt=0.0)
    embedding_dim: list[int] = Field(min_length=1, description="embedding sizes to try")
    workers: int = Field(
        ge=1, description="make tune-distributed: keras-tuner workers beside the chief"
    )


class TrainConfig(Section):
    """Final training (``train`` section); the batch size is the tuned one.

    The decision threshold is chosen on the validation window by ``threshold_rule``: ``max_f1``
    (the threshold with the highest F1) or ``min_cost`` (the lowest expected cost when a missed
    positive costs ``false_negative_cost`` times a false alarm).
    """

    epochs: int = Field(ge=1)
    min_steps: int = Field(ge=0, description="the epoch cap allows at least this many steps")
    patience: int = Field(ge=1)
    threshold_rule: Literal["max_f1", "min_cost"]
    false_negative_cost: float = Field(gt=0.0, description="cost of a miss / a false alarm")
    distribute: Literal["none", "multi_worker"] = Field(
        description="multi_worker: tf.distribute.MultiWorkerMirroredStrategy across `workers` "
        "processes on this machine (TF_CONFIG on loopback)"
    )
    workers: int = Field(ge=1, description="processes of a multi_worker training")
    class_weight: Literal["none", "balanced"] = Field(
        description="balanced: each class weighs half the training loss; the output is shifted "
        "back afterwards so probabilities estimate the real positive rate"
    )


class EvaluateConfig(Section):
    """Evaluation and the blessing gate (``evaluate`` section)."""

    calibration_bins: int = Field(ge=2)
    min_roc_auc: float = Field(ge=0.0, le=1.0)
    max_gap_to_best_baseline: float = Field(ge=0.0)
    bootstrap_samples: int = Field(ge=0)
    champion_max_drop: float = Field(
        ge=0.0, description="champion gate: largest ROC AUC drop against the champion allowed"
    )
    champion_min_slice_rows: int = Field(
        ge=1, description="champion gate: slices with fewer rows are not judged"
    )
    allow_near_perfect: str | None = Field(
        description="the reason a test ROC AUC above features.leakage_auc is believed (null: "
        "such a model is not blessed)"
    )


class ModelCardConfig(Section):
    """The card's own words (``model_card`` section), written for the study ``study``."""

    study: str = Field(
        description="the data.source the title, intended use and limitations were written for"
    )
    title: str
    owner: str
    intended_use: str
    limitations: list[str]


class MonitorConfig(Section):
    """Monitoring over time (``monitor`` section): windows after the training window, drift
    tests with a multiple-testing correction and an effect size, realised performance once the
    labels have arrived, confidence-based estimated performance before, and alert rules."""

    window: Literal["week", "month"] = Field(description="length of a monitoring window")
    alpha: float = Field(gt=0.0, lt=1.0, description="level of the corrected drift tests")
    correction: Literal["fdr_bh", "bonferroni"]
    psi_warn: float = Field(ge=0.0)
    psi_alert: float = Field(ge=0.0)
    prediction_psi_alert: float = Field(ge=0.0, description="score distribution PSI alert")
    rules: dict[str, dict[str, float]] = Field(
        description="each alert rule's thresholds by rule name (checked against the rules' "
        "own declarations in tabstudy.monitoring.rules when the monitor runs)"
    )
    label_delay_days: float = Field(ge=0.0, description="labels arrive this long after a flight")
    bootstrap_samples: int = Field(ge=10, description="realised AUC/Brier intervals")
    estimation_draws: int = Field(ge=10, description="label draws of the estimated performance")

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        if self.psi_warn > self.psi_alert:
            raise ValueError(f"psi_warn {self.psi_warn} must not exceed psi_alert {self.psi_alert}")
        return self


class BacktestConfig(Section):
    """Time as an axis (``backtest`` section): rolling-origin evaluation of every candidate on
    folds the tuners never saw, and a retraining-policy backtest over the year."""

    fold: Literal["month", "half_month", "week"] = Field(description="length of a test fold")
    first_test: date | None = Field(
        description="first day of the first test fold (null: features.split.test_start, the "
        "first day no tuner saw); earlier is refused"
    )
    train_window: Literal["expanding", "sliding"]
    train_months: int = Field(ge=1, description="sliding windows: months of training data")
    keras_epochs: int = Field(ge=1, description="epochs per Keras fold (fixed, no early stop)")
    keras_min_steps: int = Field(
        ge=0, description="keras_epochs raised so a fold trains at least this many steps"
    )
    bootstrap_samples: int = Field(ge=10, description="paired bootstrap of the AUC differences")
    policies: list[Literal["never", "sliding", "expanding", "on_alert"]] = Field(min_length=1)
    policy_model: Literal["lightgbm", "hgb", "logreg", "keras"] = Field(
        description="the model the retraining backtest retrains (the cheapest faithful one)"
    )
    initial_months: int = Field(ge=1, description="training months before the first scored one")


class ExportConfig(Section):
    """LiteRT and ONNX exports beside the SavedModel (``export`` section), each checked against
    the Keras model on held-out rows when it is written."""

    check_rows: int = Field(ge=100, description="validation rows the exports are checked on")
    max_abs_diff: float = Field(
        gt=0.0, description="float exports: largest |probability difference| against Keras"
    )
    quantized_max_auc_drop: float = Field(
        ge=0.0, description="dynamic-range LiteRT: ROC AUC drop against Keras allowed"
    )


class ScoreConfig(Section):
    """Batch scoring of a file (``score`` section; ``make score``, not a DVC stage)."""

    chunk_rows: int = Field(ge=1, description="rows read, featurised and scored at a time")
    runtime: Literal["auto", "onnx", "saved_model", "litert", "keras", "litert_quantized"] = Field(
        description="auto: the fastest float runtime; litert_quantized only when asked for"
    )


class ServeConfig(Section):
    """The prediction service (``serve`` section; ``make serve``, not a DVC stage)."""

    host: str = Field(min_length=1, description="interface to bind (127.0.0.1: this machine)")
    port: int = Field(ge=1, le=65535)
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        description="worker processes forked after the online store is loaded (auto: one per "
        "core this process may use; 1: a single process)"
    )
    runtime: Literal["auto", "onnx", "saved_model", "litert", "keras", "litert_quantized"] = Field(
        description="how the model is called (tabstudy.serving.runtime)"
    )
    max_body_bytes: int = Field(ge=1024, description="larger request bodies get 413")
    max_batch_rows: int = Field(ge=1, description="rows per /v1/predict/batch request")
    model: str = Field(
        min_length=1,
        description="champion (the registry's prod version; the workspace bundle while none is "
        "registered), workspace (models/bundle) or a registered version such as v0.0.2",
    )
    rollout: Literal["none", "shadow", "canary"] = Field(
        description="shadow: the challenger scores every request, the champion answers; "
        "canary: the challenger answers canary_share of the request keys"
    )
    challenger: str = Field(
        min_length=1, description="the registry stage (staging) or version the rollout serves"
    )
    canary_share: float = Field(ge=0.0, le=1.0)
    staleness: Literal["flag", "refuse"] = Field(
        description="a row whose prediction time the online store cannot serve: flag (answer, "
        "naming the stale sources) or refuse (422)"
    )
    max_staleness_hours: dict[str, Annotated[float, Field(ge=0)]] = Field(
        description="per event source of the online store: how many hours past its newest event "
        "a prediction time may lie"
    )
    log_max_bytes: int = Field(ge=4096, description="the request log rotates past this size")
    log_keep: int = Field(ge=0, description="rotated request-log files kept")
    log_queue: int = Field(
        ge=1, description="requests waiting for the log's writer; beyond, 503 with Retry-After"
    )


SECTION_MODELS: dict[str, Any] = {
    "data": Section,
    "validate": ValidateConfig,
    "target": Section,
    "features": Section,
    "baselines": BaselinesConfig,
    "tune": TuneConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "model_card": ModelCardConfig,
    "monitor": MonitorConfig,
    "backtest": BacktestConfig,
    "export": ExportConfig,
    "score": ScoreConfig,
    "serve": ServeConfig,
}
"""Every params.yaml section a stage may read, and its type (the study-specific ones: the
study's own model, a :class:`Section`)."""
STUDY_SPECIFIC: tuple[str, ...] = ("data", "target", "features")
"""Sections whose keys depend on the study (``data.source``)."""
StudyModels = Callable[[str], Mapping[str, type[Section]]]
"""The models of a study's sections (``data``, ``target``, ``features``) by ``data.source``;
:class:`KeyError` naming the known studies for an unknown source
(:func:`tabstudy.studies.section_models`)."""


class StageConfig(BaseModel):
    """The validated parameters of one stage: ``seed``, ``profile`` and the sections it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str
    seed: int
    data: Any = None
    """The study's ``data`` model (``tabstudy/studies/<study>/config.py``)."""
    validate_: ValidateConfig | None = Field(None, alias="validate")
    target: Any = None
    """The study's ``target`` model."""
    features: Any = None
    """The study's ``features`` model (a :class:`FeaturesCommon`)."""
    baselines: BaselinesConfig | None = None
    tune: TuneConfig | None = None
    train: TrainConfig | None = None
    evaluate: EvaluateConfig | None = None
    model_card: ModelCardConfig | None = None
    monitor: MonitorConfig | None = None
    backtest: BacktestConfig | None = None
    export: ExportConfig | None = None
    score: ScoreConfig | None = None
    serve: ServeConfig | None = None

    def __repr_args__(self) -> Any:
        """Show only the sections this stage reads."""
        return [(k, v) for k, v in super().__repr_args__() if v is not None]

    def table(self) -> Any:
        """The parameters as one small two-column table (``parameter``, ``value``) for reports."""
        import pandas as pd

        rows = [("profile", self.profile), ("seed", self.seed)]
        for name in SECTION_MODELS:
            section = getattr(self, "validate_" if name == "validate" else name)
            if section is not None:
                rows += _rows(name, section.model_dump())
        return (
            pd.DataFrame(rows, columns=["parameter", "value"])
            .set_index("parameter")
            .rename_axis(None)
        )


def _rows(prefix: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """``prefix.key`` and the value shown, for each value; a mapping of mappings (e.g.
    ``monitor.rules``) gets a row per inner mapping."""
    out = []
    for k, v in values.items():
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            out += [(f"{prefix}.{k}.{k2}", _shown(v2)) for k2, v2 in v.items()]
        else:
            out.append((f"{prefix}.{k}", _shown(v)))
    return out


def _shown(value: Any) -> str:
    """A parameter value as short text (lists and dicts inline, dates ISO)."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


PROFILES_KEY = "profiles"
"""Inside a section: that section's overrides, by profile name."""


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read params.yaml (default: the project's) as a dict, as YAML 1.2, the way DVC reads and
    writes it: ``yes``, ``no``, ``on``, ``Y`` are the strings they look like, not booleans (a
    YAML 1.1 reader would turn an unquoted ``positive: yes`` into ``True`` after
    ``dvc exp run -S`` rewrote the file without quotes).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    path = path or paths.params_file()
    try:
        with open(path, encoding="utf-8") as fh:
            params = YAML(typ="safe", pure=True).load(fh) or {}
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at top level, got {type(params).__name__}")
    return params


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively with ``override`` (neither is modified)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_names(params: Mapping[str, Any]) -> list[str]:
    """Every profile some section defines overrides for, and ``full``."""
    names = {
        name
        for section in params.values()
        if isinstance(section, Mapping)
        for name in (section.get(PROFILES_KEY) or {})
    }
    return sorted(names | {FULL_PROFILE})


def profile_overrides(profile: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides of ``profile``, by section ({} for ``full``).

    A section's overrides live inside it, under ``profiles.<name>`` (so that DVC, which tracks
    whole sections, sees every edit of an override as a change of the section). Profiles
    combine with commas, applied left to right: ``smoke,breast_cancer`` is the
    bring-your-own-data example with smoke settings wherever the example sets none.
    """
    names = [p.strip() for p in profile.split(",") if p.strip() and p.strip() != FULL_PROFILE]
    known = profile_names(params)
    merged: dict[str, Any] = {}
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown profile {name!r}; params.yaml defines: {', '.join(known)}")
        for key, section in params.items():
            if isinstance(section, Mapping) and name in (section.get(PROFILES_KEY) or {}):
                override = section[PROFILES_KEY][name] or {}
                merged[key] = deep_merge(merged.get(key, {}), override)
    return merged


def apply_overrides(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with a profile's ``overrides`` merged in.

    Sections merge key by key, except that an override which switches the study (its
    ``data.source`` differs) replaces the study-specific sections (:data:`STUDY_SPECIFIC`)
    whole: one study's keys never leak into another's.
    """
    base_source = (params.get("data") or {}).get("source")
    new_source = (overrides.get("data") or {}).get("source", base_source)
    if new_source == base_source:
        return deep_merge(params, overrides)
    kept = {k: v for k, v in overrides.items() if k not in STUDY_SPECIFIC}
    merged = deep_merge(params, kept)
    for section in STUDY_SPECIFIC:
        if section in params or section in overrides:
            merged[section] = dict(overrides.get(section) or {})
    return merged


def without_profiles(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the ``profiles`` overrides taken out of every section."""
    return {
        k: {n: v for n, v in s.items() if n != PROFILES_KEY} if isinstance(s, Mapping) else s
        for k, s in params.items()
    }


def resolve(params: Mapping[str, Any]) -> dict[str, Any]:
    """params.yaml with its active ``profile`` applied: the values every stage runs with.

    This is the one place where a profile is merged; the pipeline injects the result into each
    notebook, so a notebook's parameters show exactly what ran.
    """
    profile = str(params.get("profile", FULL_PROFILE))
    overrides = profile_overrides(profile, params)
    resolved = apply_overrides(without_profiles(params), overrides)
    resolved["profile"] = profile
    return resolved


def stage_config(
    profile: str,
    seed: int,
    *,
    study_models: StudyModels | None = None,
    **sections: Mapping[str, Any],
) -> StageConfig:
    """Validate a stage's parameters-cell values into its typed, frozen config.

    The values arrive resolved (the pipeline merged the profile). Only when
    ``$TABSTUDY_PROFILE`` is set (nbval runs the committed notebooks that way) is that profile
    applied here, on top of the notebook's defaults.

    Args:
        profile: the profile the values were resolved with.
        seed: the study's one seed.
        study_models: the study sections' models by ``data.source``; needed when ``sections``
            holds ``data``, ``target`` or ``features`` (:func:`tabstudy.studies.stage_config`
            passes them).
        **sections: the params.yaml sections the stage reads, by name.

    Raises:
        ConfigError: naming the offending key, for unknown sections or keys and wrong types.
    """
    unknown = sorted(set(sections) - set(SECTION_MODELS))
    if unknown:
        raise ConfigError(f"unknown params section(s): {', '.join(unknown)}")
    raw: dict[str, Any] = {"profile": profile, "seed": seed, **sections}
    env_profile = os.environ.get(PROFILE_ENV)
    if env_profile:
        overrides = profile_overrides(env_profile, load_params())
        merged = apply_overrides(raw, overrides)
        raw = {k: merged[k] for k in raw if k in merged} | {"profile": env_profile}
    raw.update(_study_sections(raw, study_models))
    try:
        return StageConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def from_params(
    sections: Sequence[str],
    params: Mapping[str, Any] | None = None,
    study_models: StudyModels | None = None,
) -> StageConfig:
    """The typed config of a stage reading ``sections``, from params.yaml (or ``params``)
    resolved with its profile: what the runner injects, for calling a stage's ``run`` directly
    (``train.run(config.from_params(train.STAGE.sections))``; for the study sections
    :func:`tabstudy.studies.from_params`)."""
    resolved = resolve(params if params is not None else load_params())
    values = {k: resolved[k] for k in sections}
    return stage_config(resolved["profile"], resolved["seed"], study_models=study_models, **values)


def _study_sections(raw: Mapping[str, Any], models: StudyModels | None) -> dict[str, Section]:
    """Validate ``data``/``target``/``features`` with the models of the study that
    ``data.source`` names."""
    present = [s for s in STUDY_SPECIFIC if s in raw]
    if not present:
        return {}
    if models is None:
        raise ConfigError(
            f"the section(s) {', '.join(present)} depend on the study: build this config with "
            "tabstudy.studies.stage_config, which knows each study's models"
        )
    data = raw.get("data")
    source = data.get("source") if isinstance(data, Mapping) else None
    try:
        study = models(source) if isinstance(source, str) else models("")
    except KeyError as err:
        raise ConfigError(
            f"params key 'data.source': {source!r} is not a known study ({err.args[0]}); the "
            f"section(s) {', '.join(present)} depend on it"
        ) from None
    out = {}
    for name in present:
        try:
            out[name] = study[name].model_validate(raw[name])
        except ValidationError as err:
            prefix = "" if name == "data" else f"{name}."
            detail = _describe(err, prefix=prefix or "data.", study=str(source))
            raise ConfigError(detail) from None
    return out


def _describe(err: ValidationError, prefix: str = "", study: str | None = None) -> str:
    lines = []
    for e in err.errors():
        key = prefix + ".".join(str(p) for p in e["loc"])
        shown = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
        msg = e["msg"]
        if e["type"] == "extra_forbidden" and study:
            msg = f"not a key of the {study!r} study's {prefix.rstrip('.')} section"
        lines.append(f"params key '{key}': {msg}{shown}")
    return "invalid parameters:\n  " + "\n  ".join(lines)
