"""Atomic, stage-transactional writes.

Every writer here writes to a temporary name beside its target and renames it into place, so a
crash never leaves a half-written file. When a stage runs under :mod:`tabstudy.pipeline`, the
environment variable ``TABSTUDY_STAGING`` names a staging directory: writers then put their file
under it (same relative path) and the runner moves the whole set into place only when the stage
succeeded. A failed stage therefore leaves none of its outputs behind, and earlier good outputs
stay untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tabstudy import paths

STAGING_ENV = "TABSTUDY_STAGING"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what a plain open() would give, not mkstemp's 0600
_DIR_MODE = 0o777 & ~_umask()


def target_path(final: Path) -> Path:
    """Where a write meant for ``final`` goes now: under the staging dir if one is active."""
    staging = os.environ.get(STAGING_ENV)
    if not staging:
        return Path(final)
    resolved = Path(final).resolve()
    if resolved.is_relative_to(Path(staging).resolve()):
        raise ValueError(
            f"{final} is already a staging path: pass writers the final path "
            "(paths.*); staging is applied once, by the writer"
        )
    return Path(staging) / resolved.relative_to(paths.root())


@contextmanager
def atomic_path(final: Path, suffix: str = "", *, staged: bool = True) -> Iterator[Path]:
    """The project's one atomic write: yield a temporary path beside the target; when the block
    succeeds, rename it onto the target (with the mode a plain ``open()`` gives); when it fails,
    remove it, so the target is either the old file or the whole new one.

    Args:
        final: the path the caller means to write.
        suffix: suffix of the temporary file (some writers infer a format from it). The
            temporary name starts with a dot and ends in ``suffix``, so a glob for the final
            files (``*.json``) never matches it when ``suffix`` is empty.
        staged: write to the stage's staging directory when one is active
            (:func:`target_path`). False for files that are never a stage's output: a private
            run directory, the online store, the tuner's run records.
    """
    dest = target_path(final) if staged else Path(final)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces the (staged) target of ``final``."""
    dest = target_path(final)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)
        replace_tree(tmp, dest)
        if os.environ.get(STAGING_ENV):
            mark_whole_dir(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_tree(src: Path, dest: Path) -> None:
    """Move ``src`` (file or directory) to ``dest``, replacing what is there."""
    if dest.is_dir() and not dest.is_symlink():
        trash = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(dest, trash)
        os.replace(src, dest)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dest)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(obj: Any) -> Any:
    """Replace NaN/inf floats with None so the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_text(obj: Any) -> str:
    """``obj`` as indented, key-sorted JSON (byte-stable for equal content; NaN/inf as null)."""
    return json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default) + "\n"


def write_json(obj: Any, final: Path) -> None:
    """Write ``obj`` as :func:`json_text` (atomically)."""
    write_text(json_text(obj), final)


def write_text(text: str, final: Path, *, staged: bool = True) -> None:
    """Write ``text`` as UTF-8 (atomically; ``staged`` as in :func:`atomic_path`)."""
    with atomic_path(final, staged=staged) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet(df: pd.DataFrame, final: Path) -> None:
    """Write a DataFrame to Parquet without the index."""
    with atomic_path(final, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(df: pd.DataFrame, final: Path) -> None:
    with atomic_path(final, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def save_figure(fig: Any, final: Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG (no timestamp metadata, so files are reproducible)."""
    with atomic_path(final, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})


def write_with(writer: Callable[[Path], None], final: Path, suffix: str = "") -> None:
    """Run ``writer(tmp_path)`` and atomically move the result to ``final``."""
    with atomic_path(final, suffix=suffix) as tmp:
        writer(tmp)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def commit_staging(staging: Path, root: Path) -> list[Path]:
    """Move every file staged under ``staging`` to the same place under ``root``.

    Directories that were written whole (``atomic_dir``) replace their counterpart whole.
    Returns the committed destination paths.
    """
    committed: list[Path] = []
    for src in sorted(_staged_entries(staging)):
        dest = root / src.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        replace_tree(src, dest)
        committed.append(dest)
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # the staging root, once no other stage is staging
    return committed


def _staged_entries(staging: Path) -> list[Path]:
    """Files under ``staging``, except that a directory marked whole is returned as one entry."""
    entries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(staging):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d / WHOLE_DIR_MARK).exists():
                (here / d / WHOLE_DIR_MARK).unlink()
                entries.append(here / d)
                dirnames.remove(d)
        entries.extend(here / f for f in filenames)
    return entries


WHOLE_DIR_MARK = ".tabstudy-whole-dir"


def mark_whole_dir(directory: Path) -> None:
    """Mark a staged directory so that committing replaces its target as a whole."""
    (Path(directory) / WHOLE_DIR_MARK).touch()
