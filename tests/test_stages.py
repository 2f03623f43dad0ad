"""Stage modules own their I/O: each declares its outputs once, its notebook makes one call, and
``run(cfg)`` works without papermill, all or nothing."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from tabstudy import artifacts, config, paths, studies
from tabstudy.pipeline.stages import COMMANDS, STAGES
from tabstudy.stages import NAMES
from tabstudy.stages.base import Stage, directory_outs, transaction

REPO = Path(__file__).resolve().parents[1]


def _code(notebook: str) -> str:
    cells = json.loads((REPO / "notebooks" / notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_the_registry_takes_the_stages_from_their_modules_in_run_order() -> None:
    assert tuple(s.name for s in STAGES) == NAMES
    for s in STAGES:
        module = __import__(f"tabstudy.stages.{s.name}", fromlist=["STAGE", "run"])
        assert module.STAGE is s and callable(module.run)


def test_every_output_is_declared_by_one_stage() -> None:
    outs = [o for s in (*STAGES, *COMMANDS) for o in (*s.outs, *s.metrics, *s.plots)]
    assert len(outs) == len(set(outs)), sorted(o for o in outs if outs.count(o) > 1)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_a_notebook_makes_one_call_into_its_stage_and_writes_nothing(stage: Stage) -> None:
    tree = ast.parse(_code(str(stage.notebook)))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "tabstudy.stages" and [a.name for a in n.names] == [stage.name]
               for n in imports), stage.notebook  # fmt: skip
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    runs = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "run"]
    assert len(runs) == 1, stage.notebook
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "artifacts" not in names and "paths" not in names, stage.notebook  # no I/O there


def _smoke(workdir: Path) -> None:
    shutil.copytree(REPO / "contracts", workdir / "contracts")
    text = (workdir / "params.yaml").read_text()
    (workdir / "params.yaml").write_text(text.replace("profile: full", "profile: smoke", 1))


def test_stages_run_without_papermill_and_commit_their_outputs(workdir: Path) -> None:
    """ingest then validate, called directly: the declared outputs appear, with the headline,
    and no staging directory is left behind."""
    from tabstudy.stages import ingest, validate

    _smoke(workdir)
    result = ingest.run(studies.from_params(ingest.STAGE.sections))
    assert result.summary.loc["flights", "rows"] > 0
    assert paths.raw("flights").is_file() and paths.metrics_file("ingest").is_file()
    checked = validate.run(studies.from_params(validate.STAGE.sections))
    assert checked.report["fail"] == 0
    assert artifacts.read_json(paths.headline_file("validate")) == {
        "fail": 0, "warn": checked.report["warn"]}  # fmt: skip
    assert not paths.staging_root().exists() or not any(paths.staging_root().iterdir())


def test_a_failing_stage_leaves_the_last_good_outputs(workdir: Path) -> None:
    """validate on data that breaks a hard rule raises, naming the rule, and the report of
    the last good run is untouched (nothing half-written)."""
    from tabstudy.stages import ingest, validate

    _smoke(workdir)
    ingest.run(studies.from_params(ingest.STAGE.sections))
    validate.run(studies.from_params(validate.STAGE.sections))
    before = paths.anomalies_report().read_bytes()
    params = config.load_params()
    params["validate"]["min_rows"] = 10**9
    with pytest.raises(Exception, match=r"flights.*at least 1000000000 row"):
        validate.run(studies.from_params(validate.STAGE.sections, params))
    assert paths.anomalies_report().read_bytes() == before
    assert not (paths.staging_root() / "validate").exists()


def test_a_transaction_marks_directories_whole_and_refuses_double_staging(workdir: Path) -> None:
    """A directory output replaces last run's whole (stale files go); a writer handed a path
    that is already staged is refused instead of staging it twice."""
    stale = paths.figures_dir("x") / "stale.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    declared = Stage("x", outs=(paths.rel(paths.figures_dir("x")),))
    assert directory_outs(declared) == [paths.rel(paths.figures_dir("x"))]

    @transaction(declared)
    def run(cfg: object) -> str:
        artifacts.write_text("new", paths.figures_dir("x") / "fresh.txt")
        with pytest.raises(ValueError, match="already a staging path"):
            artifacts.write_text("x", artifacts.target_path(paths.figures_dir("x") / "y.txt"))
        return "done"

    assert run(None) == "done"
    assert sorted(p.name for p in paths.figures_dir("x").iterdir()) == ["fresh.txt"]
