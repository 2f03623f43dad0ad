"""The same bytes on another machine, emulated on this one: the smoke profile's baselines, tune
and train (the exports and their checks included) re-run on a CPU with another oneDNN ISA,
NumPy dispatch level and OpenBLAS kernel, and on one core, write the same ``dvc.lock`` entries;
and ``make repro``'s registry step on results that the committed ``dvc.lock`` does not record
says which stages differ and exits 0, while every other registry error still fails."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import _env, committed_copy, run_in
from .test_numerics import EMULATED, PORTABLE_UNDER_TEST, run_on

pytestmark = pytest.mark.slow
STAGES = ("baselines", "tune", "train")
REGISTRY = (sys.executable, "-m", "tabstudy", "registry", "promote")


def lock_entries(work: Path) -> dict[str, dict[str, str]]:
    """Per stage of :data:`STAGES`, every output's md5 in ``dvc.lock``."""
    stages = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    return {s: {o["path"]: o["md5"] for o in stages[s]["outs"]} for s in STAGES}


def rerun_on(run: Path, dest: Path, machine: dict[str, str]) -> dict[str, dict[str, str]]:
    """A copy of the smoke run whose :data:`STAGES` are forced to run again, from scratch (no
    resumed tuner), as on ``machine``; their ``dvc.lock`` entries."""
    shutil.copytree(run, dest, symlinks=True)
    shutil.rmtree(dest / ".cache" / "tuner", ignore_errors=True)
    for stage in STAGES:
        done = run_on(["dvc", "repro", "--force", "--single-item", stage], machine,
                      PORTABLE_UNDER_TEST, env=_env(dest), cwd=dest)  # fmt: skip
        assert done.returncode == 0, f"{stage}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return lock_entries(dest)


def test_baselines_tune_train_and_exports_are_byte_identical_on_emulated_machines(
    smoke_run, tmp_path: Path
) -> None:
    """The smoke run (this CPU, its cores, from scratch) is the reference; the other emulated
    machines run its stages again."""
    reference = lock_entries(smoke_run[0])
    others = [(name, m) for name, m in EMULATED.items() if m]
    for i, (name, machine) in enumerate(others):
        entries = rerun_on(smoke_run[0], tmp_path / str(i), machine)
        differ = {
            stage: [p for p, md5 in outs.items() if reference[stage].get(p) != md5]
            for stage, outs in entries.items()
        }
        assert not any(differ.values()), f"{name} vs this machine: {differ}"


@pytest.fixture(scope="module")
def elsewhere(smoke_run, tmp_path_factory) -> Path:
    """A committed smoke run whose commit records another machine's train and tune results
    (their hashes changed), the workspace holding this machine's: what a fresh clone meets on
    a CPU other than the one that wrote ``dvc.lock`` without the pinned numerics."""
    repo = committed_copy(smoke_run[0], tmp_path_factory.mktemp("elsewhere") / "repo")
    ours = (repo / "dvc.lock").read_text()
    theirs = yaml.safe_load(ours)
    for stage in ("tune", "train"):
        for out in theirs["stages"][stage]["outs"]:
            out["md5"] = "0" * 32 + out["md5"][32:]
    (repo / "dvc.lock").write_text(yaml.safe_dump(theirs, sort_keys=False))
    run_in(repo, "git", "commit", "-q", "-am", "dvc.lock written on another CPU")
    (repo / "dvc.lock").write_text(ours)
    return repo


def test_an_unrecorded_bundle_is_explained_and_make_repro_still_succeeds(elsewhere) -> None:
    out = run_in(elsewhere, *REGISTRY, "--if-refused-exit-0", "--if-unrecorded-exit-0")
    assert "recorded by neither HEAD nor any DVC experiment" in out.stderr
    assert "differ from the committed dvc.lock (how many): tune (" in out.stderr
    assert "train (" in out.stderr and "`git diff dvc.lock` lists them" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 5  # a few lines, not a file list
    assert "git commit" in out.stderr and "dvc exp run" in out.stderr
    assert "make promote" in out.stderr
    assert "registered" not in out.stdout  # nothing was registered
    assert (
        run_in(elsewhere, sys.executable, "-m", "tabstudy", "registry", "list")
        .stdout.strip()
        .endswith("no registered version (make repro registers the first)")
    )


def test_without_the_flag_an_unrecorded_bundle_is_still_an_error(elsewhere) -> None:
    out = run_in(elsewhere, *REGISTRY, check=False)
    assert out.returncode == 2 and "recorded by neither HEAD" in out.stderr


def test_every_other_registry_error_still_fails_make_repros_step(elsewhere) -> None:
    out = run_in(elsewhere, *REGISTRY, "--ref", "HEAD", "--if-refused-exit-0",
                 "--if-unrecorded-exit-0", check=False)  # fmt: skip
    assert out.returncode == 2 and "is not recorded by HEAD's dvc.lock" in out.stderr
    metrics = elsewhere / "reports" / "metrics" / "detail" / "evaluate.json"
    saved = metrics.read_bytes()
    metrics.unlink()
    try:
        out = run_in(elsewhere, *REGISTRY, "--if-refused-exit-0", "--if-unrecorded-exit-0",
                     check=False)  # fmt: skip
    finally:
        metrics.write_bytes(saved)
    assert out.returncode == 2 and "evaluate.json" in out.stderr


def test_a_resumed_search_writes_the_tune_outputs_of_a_cold_one(smoke_run, tmp_path) -> None:
    """A workspace whose tuner cache already holds the search (the smoke run's, cold) re-runs
    tune, resuming it: the page and every other tune output are the same bytes, so a lock
    recorded in a long-lived workspace matches a fresh clone's."""
    dest = tmp_path / "resumed"
    shutil.copytree(smoke_run[0], dest, symlinks=True)
    assert any((dest / ".cache" / "tuner").iterdir())
    done = run_in(dest, "dvc", "repro", "--force", "--single-item", "tune")
    assert "Running stage 'tune'" in done.stdout
    assert lock_entries(dest)["tune"] == lock_entries(smoke_run[0])["tune"]
