"""params.yaml as typed config: one source of values, strict keys, the study union, profiles."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tabstudy import config, studies
from tabstudy.studies.flights import config as flights_config
from tabstudy.studies.table import config as table_config

SECTION_TYPES: list[type[BaseModel]] = [
    flights_config.FlightsData,
    table_config.FileData,
    config.ValidateConfig,
    flights_config.FlightsTarget,
    table_config.FileTarget,
    flights_config.FlightsFeatures,
    table_config.TableFeatures,
    config.SplitConfig,
    config.BaselinesConfig,
    config.TuneConfig,
    config.TrainConfig,
    config.EvaluateConfig,
    config.ModelCardConfig,
    config.MonitorConfig,
]


def _resolved(profile: str | None = None) -> dict:
    params = config.load_params()
    if profile:
        params["profile"] = profile
    return config.resolve(params)


def _stage(resolved: dict, *names: str) -> config.StageConfig:
    return studies.stage_config(
        resolved["profile"], resolved["seed"], **{n: resolved[n] for n in names}
    )


def test_params_yaml_validates_for_every_section_and_profile(workdir) -> None:
    for profile in ("full", "smoke", "breast_cancer", "smoke,breast_cancer"):
        resolved = _resolved(profile)
        cfg = _stage(resolved, *config.SECTION_MODELS)
        assert cfg.profile == profile
    full = _stage(_resolved(), *config.SECTION_MODELS)
    params = config.load_params()
    assert full.train.epochs == params["train"]["epochs"]
    assert str(full.features.split.valid_start) == params["features"]["split"]["valid_start"]


@pytest.mark.parametrize("model", SECTION_TYPES, ids=lambda m: m.__name__)
def test_params_yaml_is_the_only_source_of_values(model) -> None:
    """No section model carries a default: a value missing from params.yaml is an error, never a
    second, silently different default."""
    defaults = {n: f.default for n, f in model.model_fields.items() if not f.is_required()}
    assert defaults == {}, f"{model.__name__} has defaults {defaults}: put them in params.yaml"


def test_missing_key_is_named(workdir) -> None:
    train = {k: v for k, v in _resolved()["train"].items() if k != "patience"}
    with pytest.raises(config.ConfigError, match=r"train\.patience': Field required"):
        config.stage_config("full", 1, train=train)


def test_unknown_key_is_named(workdir) -> None:
    train = {**_resolved()["train"], "epoch": 3}
    with pytest.raises(config.ConfigError, match=r"train\.epoch"):
        config.stage_config("full", 1, train=train)


def test_mistyped_key_is_named_with_value(workdir) -> None:
    train = {**_resolved()["train"], "epochs": "many"}
    with pytest.raises(config.ConfigError, match=r"train\.epochs.*'many'"):
        config.stage_config("full", 1, train=train)


def test_unknown_section_is_named(workdir) -> None:
    with pytest.raises(config.ConfigError, match="trian"):
        config.stage_config("full", 1, trian={})


def test_config_is_frozen(workdir) -> None:
    cfg = config.stage_config("full", 1, train=_resolved()["train"])
    with pytest.raises(Exception, match="frozen"):
        cfg.train.epochs = 99  # type: ignore[misc]


def test_values_arrive_resolved_and_only_the_env_applies_a_profile(workdir, monkeypatch) -> None:
    params = config.without_profiles(config.load_params())
    smoke = config.load_params()["train"]["profiles"]["smoke"]["epochs"]
    assert _resolved("smoke")["train"]["epochs"] == smoke
    # stage_config does not re-apply the profile it is told about (the runner merged it) ...
    assert config.stage_config("smoke", 1, train=params["train"]).train.epochs != smoke
    # ... except under $TABSTUDY_PROFILE (nbval runs the committed notebooks that way)
    monkeypatch.setenv(config.PROFILE_ENV, "smoke")
    cfg = config.stage_config("full", 1, train=params["train"])
    assert (cfg.profile, cfg.train.epochs) == ("smoke", smoke)


def test_unknown_profile(workdir) -> None:
    with pytest.raises(config.ConfigError, match="unknown profile 'huge'"):
        _resolved("huge")


def test_split_dates_must_be_ordered(workdir) -> None:
    resolved = _resolved()
    resolved["features"]["split"] = {
        "train_start": None,
        "valid_start": "2013-11-01",
        "test_start": "2013-09-01",
    }
    with pytest.raises(config.ConfigError, match="valid_start"):
        _stage(resolved, "data", "features")


def test_deep_merge_keeps_base_untouched() -> None:
    base = {"a": {"b": 1, "c": 2}}
    assert config.deep_merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}}
    assert base == {"a": {"b": 1, "c": 2}}


def test_profiles_combine_left_to_right(workdir) -> None:
    params = config.load_params()
    both = _stage(_resolved("smoke,breast_cancer"), "data", "train", "tune")
    assert both.data.source == "file" and both.data.sample_frac == 1.0  # the example wins
    assert both.data.table == "breast_cancer"
    assert both.train.epochs == params["train"]["profiles"]["breast_cancer"]["epochs"]
    other = _stage(_resolved("breast_cancer,smoke"), "data")
    assert other.data.sample_frac == params["data"]["profiles"]["smoke"]["sample_frac"]
    assert config.profile_names(params) == ["breast_cancer", "full", "smoke"]


def test_params_are_read_as_yaml_1_2_like_dvc_writes_them(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("a: yes\nb: no\nc: on\nd: Y\ne: 1\nf: true\ng: 1e-4\n")
    assert config.load_params(path) == {
        "a": "yes", "b": "no", "c": "on", "d": "Y", "e": 1, "f": True, "g": 0.0001,
    }  # fmt: skip
    path.write_text("a: [1, 2\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load_params(path)


def test_switching_study_replaces_the_study_sections(workdir) -> None:
    resolved = _resolved("breast_cancer")
    assert "horizon_hours" not in resolved["features"] and "split" not in resolved["features"]
    assert "delay_minutes" not in resolved["target"]
    cfg = _stage(resolved, "data", "target", "features")
    assert isinstance(cfg.features, table_config.TableFeatures)
    assert isinstance(cfg.target, table_config.FileTarget)


def test_one_studys_keys_cannot_be_set_on_another(workdir) -> None:
    flights, table = _resolved(), _resolved("breast_cancer")
    features = {**table["features"], "horizon_hours": 2}
    with pytest.raises(config.ConfigError, match=r"features\.horizon_hours': not a key of the"):
        studies.stage_config("x", 1, data=table["data"], features=features)
    data = {**flights["data"], "path": "external/x.csv"}
    with pytest.raises(config.ConfigError, match=r"data\.path': not a key of the 'nycflights13'"):
        studies.stage_config("x", 1, data=data)
    with pytest.raises(config.ConfigError, match=r"target\.delay_minutes': Field required"):
        studies.stage_config("x", 1, data=flights["data"], target=table["target"])


def test_a_table_without_time_column_needs_no_split_dates(workdir) -> None:
    cfg = _stage(_resolved("breast_cancer"), "data", "features")
    assert cfg.features.time_column is None and not hasattr(cfg.features, "split")


def test_unknown_study_and_file_without_path(workdir) -> None:
    with pytest.raises(config.ConfigError, match=r"data\.path': Field required"):
        studies.stage_config("x", 1, data={"source": "file", "delimiter": ",", "sample_frac": 1})
    with pytest.raises(config.ConfigError, match="'parquet' is not a known study"):
        studies.stage_config("x", 1, data={"source": "parquet"}, target={})


def test_study_sections_need_the_studys_models(workdir) -> None:
    """config.py knows no study: the study sections are validated only with the models
    tabstudy.studies hands it, and asking config alone names the function to call."""
    with pytest.raises(config.ConfigError, match=r"tabstudy\.studies\.stage_config"):
        config.stage_config("x", 1, data=_resolved()["data"])
    assert set(studies.section_models("nycflights13")) == {"data", "target", "features"}
