"""Where the project root is: the workspace DVC runs a stage in, the test work dir, the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tabstudy import paths


def test_root_is_the_workspace_dvc_runs_the_stage_in(tmp_path, monkeypatch) -> None:
    queued = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"  # a queued experiment's copy
    queued.mkdir(parents=True)
    (queued / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.setenv("TABSTUDY_WORKDIR", str(tmp_path))
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))  # DVC points it at the parent workspace
    monkeypatch.setenv("DVC_STAGE", "train")
    monkeypatch.chdir(queued)
    assert paths.root() == queued.resolve()
    assert paths.bundle_dir().is_relative_to(queued.resolve())
    monkeypatch.chdir(tmp_path)  # not a project directory: the stage runs elsewhere
    assert paths.root() == tmp_path.resolve()


@pytest.mark.parametrize("workdir", [True, False])
def test_root_outside_dvc(workdir: bool, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DVC_STAGE", raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)  # the working directory does not matter outside a stage
    if workdir:
        monkeypatch.setenv("TABSTUDY_WORKDIR", str(tmp_path / "w"))
        assert paths.root() == (tmp_path / "w").resolve()
    else:
        monkeypatch.delenv("TABSTUDY_WORKDIR", raising=False)
        assert paths.root() == Path(paths.__file__).resolve().parents[2]
