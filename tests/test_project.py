"""Repository contracts: dvc.yaml is generated and current, notebook parameters equal
params.yaml, environment.yml and requirements.lock agree."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tabstudy import config
from tabstudy.pipeline import dvcgen
from tabstudy.pipeline.stages import STAGES

from .conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import environment_yml


def _parameters_cell(notebook: Path) -> dict:
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name}: expected one cell tagged 'parameters'"
    namespace: dict = {}
    exec("".join(tagged[0]["source"]), {}, namespace)
    return namespace


def test_dvc_yaml_is_generated_from_the_registry() -> None:
    assert (REPO / "dvc.yaml").read_text() == dvcgen.dvc_yaml(REPO), "run `make dvc-yaml`"


def test_notebook_numbers_follow_the_run_order() -> None:
    """The registry lists the notebook stages in the order they run (each after what it
    reads), and their numbers count up from 01 in that order, as does each title."""
    notebooks = [s.notebook for s in STAGES if s.notebook]
    assert [int(n[:2]) for n in notebooks] == list(range(1, len(notebooks) + 1))
    assert sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")) == notebooks  # no stray
    for name in notebooks:
        first = json.loads((REPO / "notebooks" / name).read_text())["cells"][0]
        assert "".join(first["source"]).startswith(f"# {name[:2]} · "), name


@pytest.mark.parametrize("stage", [s for s in STAGES], ids=lambda s: s.name)
def test_notebook_parameters_equal_params_yaml(stage) -> None:
    params = config.resolve(yaml.safe_load((REPO / "params.yaml").read_text()))
    declared = _parameters_cell(REPO / "notebooks" / stage.notebook)
    assert set(declared) == {"profile", "seed", *stage.sections}
    for key, value in declared.items():
        assert value == params[key], (
            f"{stage.notebook}: default of '{key}' differs from params.yaml"
        )


@pytest.mark.parametrize("stage", [s for s in STAGES], ids=lambda s: s.name)
def test_notebook_code_is_valid_python_and_imports_declared(stage) -> None:
    nb = json.loads((REPO / "notebooks" / stage.notebook).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            ast.parse("".join(cell["source"]))
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage.name]["deps"]
    assert f"notebooks/{stage.notebook}" in deps
    assert all((REPO / d).exists() for d in deps if d.startswith("src/"))


def test_every_stage_section_is_typed() -> None:
    for s in STAGES:
        assert set(s.sections) <= set(config.SECTION_MODELS), s.name


def test_environment_yml_pins_equal_lock() -> None:
    lock = (REPO / "requirements.lock").read_text()
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip_list if "==" in p) == sorted(environment_yml.pins(lock))
    assert (REPO / "environment.yml").read_text() == environment_yml.environment_yml(lock)


def test_lock_pins_every_direct_requirement() -> None:
    lock = set(environment_yml.pins((REPO / "requirements.lock").read_text()))
    for line in (REPO / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert line.lower() in {p.lower() for p in lock}, line


def test_cli_stage_and_help() -> None:
    for cmd in (["tabstudy", "run", "nope"], ["tabstudy.pipeline.runner", "nope"]):
        out = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
        assert out.returncode != 0 and "unknown stage 'nope'" in out.stderr


STUDY_FREE_STAGES = (
    "baselines",
    "tune",
    "train",
    "evaluate",
    "model_card",
    "monitor",
    "backtest",
    "index",
)


def test_dvcgen_follows_imports_that_run_not_type_only_ones() -> None:
    code = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from tabstudy import paths\n"
        "if TYPE_CHECKING:\n"
        "    from tabstudy.models.bundle import Bundle\n"
        "else:\n"
        "    import tabstudy.spec\n"
        "if typing.TYPE_CHECKING:\n"
        "    import tabstudy.serving.app\n"
        "def f():\n"
        "    from tabstudy.models import keras_model\n"
    )
    assert dvcgen._imports(code) == {
        "tabstudy",
        "tabstudy.paths",
        "tabstudy.spec",
        "tabstudy.models",
        "tabstudy.models.keras_model",
    }


def test_data_stages_import_no_model_or_serving_code() -> None:
    """The offline half of a study never reaches serving code or the network's code."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert not [d for d in stage["deps"] if d.startswith("src/tabstudy/serving/")], name
    network = {f"src/tabstudy/models/{m}.py" for m in ("keras_model", "bundle", "export")}
    for name in ("ingest", "validate", "eda", "features", "baselines", "source"):
        deps = stages[name]["deps"]
        assert not network & set(deps), name
        if name != "baselines":  # its baselines live in models/
            assert not [d for d in deps if d.startswith("src/tabstudy/models/")], (name, deps)


def test_stage_deps_follow_the_code_each_stage_executes() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name in STUDY_FREE_STAGES:
        deps = stages[name]["deps"]
        assert not [d for d in deps if d.startswith("src/tabstudy/studies/")], name
    for name in ("ingest", "validate", "eda", "features"):
        assert "src/tabstudy/studies/flights/history.py" in stages[name]["deps"], name
    for name, stage in stages.items():
        assert "src/tabstudy/pipeline/plots.py" not in stage["deps"], name
        assert "src/tabstudy/pipeline/dvcgen.py" not in stage["deps"], name


def _is_data_source(node: ast.AST) -> bool:
    """``<...>.data.source`` or ``data.source``."""
    if not (isinstance(node, ast.Attribute) and node.attr == "source"):
        return False
    owner = node.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "data") or (
        isinstance(owner, ast.Name) and owner.id == "data"
    )


def _source_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something named ``source`` (``cfg.data.source == ...``) or a study name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = [s for s in sides if _is_data_source(s)]
            studies = [s for s in sides if isinstance(s, ast.Constant) and s.value in STUDIES]
            if named or studies:
                found.append(node.lineno)
    return found


STUDIES = ("nycflights13", "file")


def test_no_study_switch_outside_the_registry() -> None:
    """Only studies/ knows which study runs: no ``source ==`` branch anywhere else, in src or in
    a notebook."""
    src = REPO / "src" / "tabstudy"
    for path in src.rglob("*.py"):
        if path.is_relative_to(src / "studies"):
            continue
        lines = _source_comparisons(ast.parse(path.read_text()))
        assert not lines, f"{path.relative_to(REPO)}: study switch at line(s) {lines}"
    for stage in STAGES:
        cells = json.loads((REPO / "notebooks" / stage.notebook).read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert not _source_comparisons(ast.parse(code)), stage.notebook
        assert "nycflights13" not in code.split("# Parameters")[0], stage.notebook


def test_the_switch_check_catches_a_branch() -> None:
    assert _source_comparisons(ast.parse("if cfg.data.source == 'x':\n    pass\n")) == [1]
    assert _source_comparisons(ast.parse("ok = kind != 'nycflights13'\n")) == [1]
