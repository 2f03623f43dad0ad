"""Shared fixtures: tiny hand-made tables (three-row style) and isolated copies of the repo."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from ruamel.yaml import YAML

from tabstudy.pipeline.stages import COMMANDS, STAGES

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep what shares an expensive fixture on one pytest-xdist worker (``make test`` runs
    ``-n 2 --dist loadgroup``): every test of a module together, and every user of the
    session's smoke run together, so no worker builds a module or session fixture twice."""
    for item in items:
        shared = "smoke_run" in getattr(item, "fixturenames", ())
        group = "smoke_run" if shared else item.module.__name__ if item.module else item.nodeid
        item.add_marker(pytest.mark.xdist_group(group))


def project_files() -> list[str]:
    """Files git tracks or would track (not ignored): sources, notebooks, params, DVC config."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in out.stdout.split("\0") if f and (REPO / f).is_file()]


def copy_repo(dest: Path) -> Path:
    """Copy the project as a fresh clone would have it (no outputs, no .venv) to ``dest``."""
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABSTUDY_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(work / "src"),
        WANDB_MODE="disabled",
        TABSTUDY_WORKDIR=str(work),
    )
    return env


def run_in(work: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=work, env=_env(work), capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out


def _yaml12() -> YAML:
    yaml12 = YAML(typ="safe", pure=True)  # YAML 1.2, as DVC reads and writes params.yaml
    yaml12.default_flow_style = False
    return yaml12


def set_params(work: Path, **changes: object) -> None:
    """Edit params.yaml keys given as dotted paths, e.g. ``{"train.patience": 3}``; a value of
    :data:`DELETE` removes the key."""
    path = work / "params.yaml"
    params = _yaml12().load(path.read_text())
    for dotted, value in changes.items():
        node = params
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    with open(path, "w") as fh:
        _yaml12().dump(params, fh)


DELETE = object()


def current_copy(run: Path, dest: Path) -> Path:
    """A copy of a pipeline run at ``dest``, brought up to date by ``dvc repro`` (earlier tests
    may have changed a parameter of the shared run)."""
    shutil.copytree(run, dest, symlinks=True)
    run_in(dest, "dvc", "repro")
    return dest


def committed_copy(run: Path, dest: Path) -> Path:
    """:func:`current_copy`, committed, as registry and experiment commands need."""
    current_copy(run, dest)
    for key, value in (("user.name", "tabstudy test"), ("user.email", "test@example.org")):
        run_in(dest, "git", "config", key, value)
    run_in(dest, "git", "add", "-A")
    run_in(dest, "git", "commit", "-q", "-m", "smoke run")
    return dest


FLIGHTS_WORDS = re.compile(r"\b(flights?|departures?|delays?|aircraft|carriers?|late)\b", re.I)
"""The flights study's words, which no page of another study may use (unless its table has such
a column)."""


def stages_ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def stale_stages(work: Path) -> set[str]:
    """The stages ``dvc status`` names, less those that always run (source, champion)."""
    always = {s.name for s in (*STAGES, *COMMANDS) if s.always_changed}
    status = json.loads(run_in(work, "dvc", "status", "--json").stdout or "{}")
    return {name.split(":")[-1] for name in status} - always


def output_digests(work: Path) -> dict[str, str]:
    """SHA-256 of every file the pipeline wrote, but the wall times (``reports/timings``: not a
    DVC output, they differ by design)."""
    timings = work / "reports" / "timings"
    files = [p for d in ("data", "models", "reports") for p in (work / d).rglob("*")
             if p.is_file() and timings not in p.parents]  # fmt: skip
    return {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


METRICS_WIDTH = 120
"""``dvc metrics show`` fits a terminal of this many columns."""


def metrics_show_widths(work: Path) -> dict[str, int]:
    """The longest line ``dvc metrics show`` prints, under a terminal of 120 columns and with
    no ``COLUMNS`` set."""
    widths = {}
    for label, columns in (("COLUMNS=120", str(METRICS_WIDTH)), ("no COLUMNS", None)):
        env = {k: v for k, v in _env(work).items() if k not in ("COLUMNS", "LINES")}
        env |= {"COLUMNS": columns} if columns else {}
        out = subprocess.run(["dvc", "metrics", "show"], cwd=work, env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        widths[label] = max(len(line) for line in out.stdout.splitlines())
    return widths


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project work dir with the repo's params.yaml; paths resolve into it."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.setenv("TABSTUDY_WORKDIR", str(tmp_path))
    monkeypatch.delenv("DVC_STAGE", raising=False)
    monkeypatch.delenv("TABSTUDY_STAGING", raising=False)
    monkeypatch.delenv("TABSTUDY_PROFILE", raising=False)
    return tmp_path


def flight(**overrides: object) -> dict[str, object]:
    """One flights row with plausible values; override any column."""
    row: dict[str, object] = {
        "year": 2013,
        "month": 1,
        "day": 1,
        "dep_time": 517.0,
        "sched_dep_time": 515,
        "dep_delay": 2.0,
        "arr_time": 830.0,
        "sched_arr_time": 819,
        "arr_delay": 11.0,
        "carrier": "UA",
        "flight": 1545,
        "tailnum": "N14228",
        "origin": "EWR",
        "dest": "IAH",
        "air_time": 227.0,
        "distance": 1400,
        "hour": 5,
        "minute": 15,
        "time_hour": "2013-01-01T10:00:00Z",
    }
    row.update(overrides)
    return row


@pytest.fixture
def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three flights, their planes and a few weather observations at EWR."""
    flights = pd.DataFrame(
        [
            flight(),
            flight(flight=1714, sched_dep_time=529, minute=29, arr_delay=20.0, tailnum="N24211"),
            flight(
                flight=11,
                sched_dep_time=600,
                hour=6,
                minute=0,
                time_hour="2013-01-01T11:00:00Z",
                dep_time=None,
                arr_time=None,
                arr_delay=None,
                dep_delay=None,
                air_time=None,
                tailnum=None,
            ),
        ]
    )
    planes = pd.DataFrame(
        {
            "tailnum": ["N14228", "N24211"],
            "year": [1999.0, 2010.0],
            "type": ["Fixed wing multi engine"] * 2,
            "manufacturer": ["BOEING"] * 2,
            "model": ["737-824"] * 2,
            "engines": [2, 2],
            "seats": [149, 200],
            "speed": [None, None],
            "engine": ["Turbo-fan", "Turbo-jet"],
        }
    )
    weather = pd.DataFrame(
        {
            "origin": ["EWR"] * 4,
            "year": [2013] * 4,
            "month": [1] * 4,
            "day": [1] * 4,
            "hour": [2, 3, 4, 5],
            "temp": [30.0, 31.0, 32.0, 33.0],
            "dewp": [20.0] * 4,
            "humid": [50.0] * 4,
            "wind_dir": [270.0] * 4,
            "wind_speed": [10.0] * 4,
            "wind_gust": [None] * 4,
            "precip": [0.0] * 4,
            "pressure": [1012.0] * 4,
            "visib": [10.0] * 4,
            "time_hour": [
                "2013-01-01T07:00:00Z",
                "2013-01-01T08:00:00Z",
                "2013-01-01T09:00:00Z",
                "2013-01-01T10:00:00Z",
            ],
        }
    )
    return {"flights": flights, "planes": planes, "weather": weather}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the repo after ``dvc repro`` under the smoke profile, and its output. Shared by
    the pipeline and serving tests; a test that changes it works on a copy of its own, or
    runs ``dvc repro`` first."""
    work = copy_repo(tmp_path_factory.mktemp("run1") / "repo")
    run_in(work, "git", "init", "-q")
    set_params(work, profile="smoke")
    out = run_in(work, "dvc", "repro")
    return work, out.stdout
