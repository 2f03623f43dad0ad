from __future__ import annotations

import pytest

from tabstudy import config


def _sections(params: dict, *names: str) -> dict:
    return {n: params[n] for n in names}


def test_params_yaml_validates_for_every_section(workdir) -> None:
    params = config.load_params()
    cfg = config.stage_config(
        params["profile"], params["seed"], **_sections(params, *config.SECTION_MODELS)
    )
    assert cfg.profile == "full"
    assert cfg.train.epochs == params["train"]["epochs"]
    assert str(cfg.features.split.valid_start) == params["features"]["split"]["valid_start"]


def test_unknown_key_is_named(workdir) -> None:
    train = {**config.load_params()["train"], "epoch": 3}
    with pytest.raises(config.ConfigError, match=r"train\.epoch"):
        config.stage_config("full", 1, train=train)


def test_mistyped_key_is_named_with_value(workdir) -> None:
    train = {**config.load_params()["train"], "epochs": "many"}
    with pytest.raises(config.ConfigError, match=r"train\.epochs.*'many'"):
        config.stage_config("full", 1, train=train)


def test_unknown_section_is_named(workdir) -> None:
    with pytest.raises(config.ConfigError, match="trian"):
        config.stage_config("full", 1, trian={})


def test_config_is_frozen(workdir) -> None:
    cfg = config.stage_config("full", 1, train=config.load_params()["train"])
    with pytest.raises(Exception, match="frozen"):
        cfg.train.epochs = 99  # type: ignore[misc]


def test_smoke_profile_overrides_and_env_wins(workdir, monkeypatch) -> None:
    params = config.load_params()
    smoke = params["profiles"]["smoke"]["train"]["epochs"]
    assert config.stage_config("smoke", 1, train=params["train"]).train.epochs == smoke
    monkeypatch.setenv(config.PROFILE_ENV, "smoke")
    cfg = config.stage_config("full", 1, train=params["train"])
    assert (cfg.profile, cfg.train.epochs) == ("smoke", smoke)


def test_unknown_profile(workdir) -> None:
    with pytest.raises(config.ConfigError, match="unknown profile 'huge'"):
        config.stage_config("huge", 1, train=config.load_params()["train"])


def test_split_dates_must_be_ordered(workdir) -> None:
    features = {
        "horizon_hours": 2,
        "split": {"valid_start": "2013-11-01", "test_start": "2013-09-01"},
    }
    with pytest.raises(config.ConfigError, match="valid_start"):
        config.stage_config("full", 1, features=features)


def test_deep_merge_keeps_base_untouched() -> None:
    base = {"a": {"b": 1, "c": 2}}
    assert config.deep_merge(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}}
    assert base == {"a": {"b": 1, "c": 2}}


def test_profiles_combine_left_to_right(workdir) -> None:
    params = config.load_params()
    sections = _sections(params, "data", "train", "tune")
    both = config.stage_config("smoke,breast_cancer", 1, **sections)
    assert both.data.source == "file" and both.data.sample_frac == 1.0  # the example wins
    assert both.data.table == "breast_cancer"
    assert both.train.epochs == params["profiles"]["breast_cancer"]["train"]["epochs"]
    other = config.stage_config("breast_cancer,smoke", 1, **sections)
    assert other.data.sample_frac == params["profiles"]["smoke"]["data"]["sample_frac"]


def test_file_source_needs_a_path(workdir) -> None:
    with pytest.raises(config.ConfigError, match=r"source 'file' needs data\.path"):
        config.stage_config("full", 1, data={"source": "file"})
