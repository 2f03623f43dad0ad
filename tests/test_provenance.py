"""Code version of a stage: the last commit of its own files, stable when other files change."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tabstudy import provenance


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_code_version_follows_the_stage_files_only(tmp_path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("hello\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    first = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance.code_version(["src/a.py"], tmp_path) == {"commit": first, "dirty": False}
    (tmp_path / "README.md").write_text("changed\n")  # another file: same version
    _git(tmp_path, "commit", "-qam", "two")
    assert provenance.code_version(["src/a.py"], tmp_path) == {"commit": first, "dirty": False}
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    assert provenance.code_version(["src/a.py"], tmp_path) == {"commit": first, "dirty": True}
    assert provenance.commit_date(first, tmp_path)[:4].isdigit()
    assert provenance.commit_date(None, tmp_path) is None


def test_outside_git_or_without_dvc_yaml(tmp_path) -> None:
    assert provenance.stage_sources("train", tmp_path) == []
    assert provenance.code_version([], tmp_path) == {"commit": None, "dirty": True}
    assert provenance.code_version(["src/a.py"], tmp_path)["commit"] is None


def test_package_versions() -> None:
    versions = provenance.package_versions(("pandas", "surely-not-installed-xyz"))
    assert versions["pandas"] and versions["surely-not-installed-xyz"] is None
