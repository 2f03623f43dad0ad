"""nbval notebook regression: every notebook, in pipeline order, in an isolated work dir under
the smoke profile, compared with the reference outputs committed in notebooks/ (cells marked
``# NBVAL_CHECK_OUTPUT``; every cell must run without error). The user's data/, models/ and
reports/ are never touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tabstudy.pipeline.stages import STAGES

from .conftest import REPO

pytestmark = pytest.mark.slow


def _snapshot() -> dict[str, int]:
    """mtime of every file in the user's data/, models/ and reports/."""
    dirs = [REPO / d for d in ("data", "models", "reports")]
    return {str(p): p.stat().st_mtime_ns for d in dirs if d.exists() for p in d.rglob("*")}


def test_notebooks_match_reference_outputs(tmp_path) -> None:
    before = _snapshot()
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "contracts", tmp_path / "contracts")
    shutil.copy(REPO / "tests" / "nbval_conftest.py", tmp_path / "conftest.py")
    notebooks = [str(tmp_path / "notebooks" / s.notebook) for s in STAGES]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABSTUDY_")}
    env.update(
        TABSTUDY_WORKDIR=str(tmp_path),
        TABSTUDY_PROFILE="smoke",
        WANDB_MODE="disabled",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(REPO / "tests" / "nbval_sanitize.cfg"),
        "--rootdir",
        str(tmp_path),
        "-q",
        *notebooks,
    ]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 30 and "failed" not in summary, summary
    assert (tmp_path / "reports" / "model_card.md").exists()
    assert _snapshot() == before, "the user's data/, models/ and reports/ were touched"
