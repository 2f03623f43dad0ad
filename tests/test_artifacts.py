from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from tabstudy import artifacts, paths


def test_write_json_is_byte_stable_and_standard(workdir) -> None:
    target = paths.metrics_file("x")
    artifacts.write_json({"b": 1.5, "a": float("nan")}, target)
    first = target.read_bytes()
    artifacts.write_json({"a": float("nan"), "b": 1.5}, target)
    assert target.read_bytes() == first
    assert first == b'{\n  "a": null,\n  "b": 1.5\n}\n'


def test_failed_write_leaves_nothing(workdir) -> None:
    target = paths.interim("half.parquet")

    def boom(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        artifacts.write_with(boom, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_failed_write_keeps_previous_good_file(workdir) -> None:
    target = paths.interim("good.txt")
    artifacts.write_text("v1", target)
    with pytest.raises(RuntimeError), artifacts.atomic_path(target) as tmp:
        tmp.write_text("v2-partial")
        raise RuntimeError("crash")
    assert target.read_text() == "v1"


def test_files_get_normal_permissions(workdir) -> None:
    target = paths.interim("perm.txt")
    artifacts.write_text("x", target)
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH


def test_staging_redirects_then_commits(workdir, monkeypatch) -> None:
    staging = workdir / ".staging" / "stage"
    monkeypatch.setenv(artifacts.STAGING_ENV, str(staging))
    artifacts.write_parquet(pd.DataFrame({"a": [1, 2]}), paths.processed("train"))
    with artifacts.atomic_dir(paths.bundle_dir() / "saved_model") as tmp:
        (tmp / "saved_model.pb").write_text("graph")
    assert not paths.processed("train").exists(), "nothing reaches the real location before commit"
    monkeypatch.delenv(artifacts.STAGING_ENV)
    (paths.bundle_dir() / "saved_model").mkdir(parents=True)
    ((paths.bundle_dir() / "saved_model") / "stale.pb").write_text("old")
    committed = artifacts.commit_staging(staging, workdir)
    assert pd.read_parquet(paths.processed("train"))["a"].tolist() == [1, 2]
    assert sorted(p.name for p in (paths.bundle_dir() / "saved_model").iterdir()) == [
        "saved_model.pb"
    ]
    assert len(committed) == 2 and not staging.exists()
