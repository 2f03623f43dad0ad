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

from tabstudy import config, pipeline
from tabstudy.stages import STAGES

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
    assert (REPO / "dvc.yaml").read_text() == pipeline.dvc_yaml(REPO), "run `make dvc-yaml`"


@pytest.mark.parametrize("stage", [s for s in STAGES], ids=lambda s: s.name)
def test_notebook_parameters_equal_params_yaml(stage) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
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
    out = subprocess.run(
        [sys.executable, "-m", "tabstudy.pipeline", "run", "nope"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "unknown stage 'nope'" in out.stderr
