"""Where a result came from: the code version (git) and the package versions.

The code version of a stage is the last commit that changed one of the files the stage executes
(its notebook and src modules, as dvc.yaml lists them) and whether any of them differs from that
commit now. It is stable when later commits touch other files (dvc.lock, the README), so a fresh
clone that re-runs the stage records the same value and reproduces the same bytes.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from tabstudy import paths

PACKAGES: tuple[str, ...] = (
    "tensorflow-cpu",
    "keras",
    "numpy",
    "pandas",
    "scikit-learn",
    "pyarrow",
    "keras-tuner",
)


def stage_sources(stage: str, root: Path | None = None) -> list[str]:
    """The code files (notebooks, src) a stage depends on, as dvc.yaml lists them ([] where there
    is no dvc.yaml, e.g. a notebook run outside the pipeline)."""
    path = (root or paths.root()) / "dvc.yaml"
    if not path.is_file():
        return []
    deps = yaml.safe_load(path.read_text(encoding="utf-8"))["stages"][stage].get("deps", [])
    return [d for d in deps if d.startswith(("src/", "notebooks/"))]


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def code_version(files: list[str], root: Path | None = None) -> dict[str, Any]:
    """``{"commit": the last commit that changed any of ``files`` (None outside git, before the
    first commit or without files), "dirty": whether any of them differs from HEAD or is
    untracked (True when that cannot be known)}``."""
    if not files:
        return {"commit": None, "dirty": True}
    root = root or paths.root()
    commit = _git(root, "log", "-1", "--format=%H", "--", *files) or None
    status = _git(root, "status", "--porcelain", "--", *files)
    return {"commit": commit, "dirty": status is None or bool(status)}


def commit_date(commit: str | None, root: Path | None = None) -> str | None:
    """The committer date of ``commit`` (ISO 8601), None when unknown."""
    if not commit:
        return None
    return _git(root or paths.root(), "show", "-s", "--format=%cI", commit) or None


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that decide a model's numbers (None if absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
