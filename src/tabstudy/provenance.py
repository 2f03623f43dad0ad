"""Where a result came from: the code version (git) and the package versions.

The code version of a stage is the last commit that changed one of the files the stage executes
(its notebook and src modules, as dvc.yaml lists them) and whether any of them differs from that
commit now. It is stable when later commits touch other files (dvc.lock, the README), so a fresh
clone that re-runs the stage records the same value and reproduces the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from tabstudy import artifacts, paths

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


LOCKED_OUTPUTS: tuple[str, ...] = tuple(
    paths.rel(p) for p in (paths.raw_dir(), paths.processed_dir(), paths.bundle_dir())
)
"""The DVC outputs whose dvc.lock hashes the model card quotes: raw data, features, model."""


def lock_file(root: Path | None = None) -> Path:
    """The environment lock file, ``requirements.lock`` at the project root."""
    return (root or paths.root()) / "requirements.lock"


def dvc_lock_file(root: Path | None = None) -> Path:
    """DVC's record of the last run, ``dvc.lock`` at the project root."""
    return (root or paths.root()) / "dvc.lock"


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, None where the file does not exist."""
    return artifacts.sha256_file(path) if Path(path).is_file() else None


def tree_sha256(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory``, keyed by its POSIX path relative to it, in
    sorted order ({} where the directory does not exist); hidden files (temporaries) left out."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    files = sorted(
        p for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )  # fmt: skip
    return {p.relative_to(directory).as_posix(): artifacts.sha256_file(p) for p in files}


def combined_sha256(hashes: dict[str, str]) -> str | None:
    """One SHA-256 over ``{name: sha256}`` (names sorted, one ``"<sha256>  <name>"`` line each, as
    ``sha256sum`` prints them); None for no files. Changing any byte of any file changes it."""
    if not hashes:
        return None
    lines = "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def lock_text_hashes(text: str | None, outputs: tuple[str, ...]) -> dict[str, str | None]:
    """The md5 that the dvc.lock ``text`` records for each of ``outputs`` (a stage's ``outs``,
    else any stage's ``deps``), None for a path it does not record or for no text."""
    found: dict[str, str] = {}
    stages = (yaml.safe_load(text) or {}).get("stages", {}) if text else {}
    entries = [e for key in ("outs", "deps") for s in stages.values() for e in s.get(key, [])]
    for entry in entries:
        if entry.get("path") in outputs and entry.get("md5"):
            found.setdefault(entry["path"], entry["md5"])
    return {out: found.get(out) for out in outputs}


def lock_changes(old: str | None, new: str | None) -> dict[str, list[str]]:
    """Per stage, the outputs whose md5 in the dvc.lock text ``new`` differs from ``old`` (or
    that ``old`` does not record), in the order ``new`` lists them."""

    def outs(text: str | None) -> dict[str, dict[str, str | None]]:
        stages = (yaml.safe_load(text) or {}).get("stages", {}) if text else {}
        return {
            n: {e["path"]: e.get("md5") for e in st.get("outs", [])} for n, st in stages.items()
        }

    before, after = outs(old), outs(new)
    changes = {
        name: [p for p, md5 in files.items() if before.get(name, {}).get(p) != md5]
        for name, files in after.items()
    }
    return {name: moved for name, moved in changes.items() if moved}


def dvc_lock_hashes(
    outputs: tuple[str, ...] = LOCKED_OUTPUTS, lock: Path | None = None
) -> dict[str, str | None]:
    """:func:`lock_text_hashes` of the dvc.lock file (all None when there is none)."""
    lock = Path(lock or dvc_lock_file())
    return lock_text_hashes(lock.read_text(encoding="utf-8") if lock.is_file() else None, outputs)


SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


NO_DATE = "no commit yet: commit the project, or set SOURCE_DATE_EPOCH"
"""The run date's source when there is neither an epoch nor a commit (the card says why)."""


def run_date(
    commit: str | None, root: Path | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """The date a reproducible report states: ``$SOURCE_DATE_EPOCH`` (the reproducible-builds
    convention) as UTC ISO 8601 when set, else the committer date of ``commit``, so two runs of
    one commit write the same bytes. ``{"date": ..., "source": "SOURCE_DATE_EPOCH" |
    "commit date" | NO_DATE}``; a malformed epoch raises ValueError naming the variable."""
    env = os.environ if env is None else env
    epoch = env.get(SOURCE_DATE_EPOCH)
    if epoch:
        try:
            when = datetime.fromtimestamp(int(epoch), tz=UTC)
        except (ValueError, OverflowError, OSError) as err:
            msg = f"{SOURCE_DATE_EPOCH}={epoch!r} is not a Unix time in seconds"
            raise ValueError(msg) from err
        return {"date": when.isoformat(), "source": SOURCE_DATE_EPOCH}
    date = commit_date(commit, root)
    return {"date": date, "source": "commit date" if date else NO_DATE}


def card_provenance(
    model_code: dict[str, Any],
    bundle_files: dict[str, str],
    raw_dir: Path | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Where the model card's numbers come from: the model's code version (the bundle's
    ``code``), the card stage's own code version, the run date, the raw data's SHA-256 now (per
    file and combined), the dvc.lock md5 of raw data, features and model, the bundle's file
    SHA-256 (from its metadata), the environment lock's SHA-256 and the key package versions."""
    root = root or paths.root()
    card_code = code_version(stage_sources("model_card", root), root)
    raw = tree_sha256(raw_dir or paths.raw_dir())
    return {
        "model_code": model_code,
        "card_code": card_code,
        "run_date": run_date(card_code["commit"] or model_code.get("commit"), root),
        "raw_data": {"sha256": combined_sha256(raw), "files": raw},
        "dvc_lock_md5": dvc_lock_hashes(LOCKED_OUTPUTS, dvc_lock_file(root)),
        "bundle_files": dict(sorted(bundle_files.items())),
        "requirements_lock_sha256": file_sha256(lock_file(root)),
        "packages": package_versions(),
    }
