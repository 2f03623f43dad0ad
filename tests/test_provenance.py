"""Code version of a stage: the last commit of its own files, stable when other files change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "flights.parquet").write_bytes(b"PAR1 flights")
    (raw / "planes.parquet").write_bytes(b"PAR1 planes")
    (raw / ".flights.parquet.tmp-x").write_bytes(b"half written")  # a temporary: left out
    return raw


def test_one_byte_of_raw_data_changes_the_data_hash(tmp_path) -> None:
    raw = _raw(tmp_path)
    before = provenance.tree_sha256(raw)
    assert list(before) == ["flights.parquet", "planes.parquet"]
    data = bytearray((raw / "planes.parquet").read_bytes())
    data[-1] ^= 1
    (raw / "planes.parquet").write_bytes(bytes(data))
    after = provenance.tree_sha256(raw)
    assert after["flights.parquet"] == before["flights.parquet"]
    assert after["planes.parquet"] != before["planes.parquet"]
    assert provenance.combined_sha256(after) != provenance.combined_sha256(before)
    assert provenance.tree_sha256(tmp_path / "absent") == {}
    assert provenance.combined_sha256({}) is None


def test_dvc_lock_hashes_from_outs_or_deps(tmp_path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n"
        "  ingest:\n    outs:\n    - path: data/raw\n      md5: aaa.dir\n"
        "  evaluate:\n    deps:\n    - path: models/bundle\n      md5: bbb.dir\n"
    )
    assert provenance.dvc_lock_hashes(lock=lock) == {
        "data/raw": "aaa.dir",
        "data/processed": None,  # not recorded
        "models/bundle": "bbb.dir",
    }
    assert set(provenance.dvc_lock_hashes(lock=tmp_path / "none.lock").values()) == {None}


def test_run_date_prefers_source_date_epoch(tmp_path) -> None:
    epoch = provenance.run_date("abc", tmp_path, {"SOURCE_DATE_EPOCH": "86400"})
    assert epoch == {"date": "1970-01-02T00:00:00+00:00", "source": "SOURCE_DATE_EPOCH"}
    assert provenance.run_date(None, tmp_path, {}) == {"date": None, "source": provenance.NO_DATE}
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='yesterday'"):
        provenance.run_date(None, tmp_path, {"SOURCE_DATE_EPOCH": "yesterday"})


def test_run_date_falls_back_to_the_commit_date(tmp_path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "a.txt").write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    date = provenance.run_date(head, tmp_path, {})
    assert date == {"date": provenance.commit_date(head, tmp_path), "source": "commit date"}


def test_card_provenance_gathers_every_version(tmp_path, monkeypatch) -> None:
    raw = _raw(tmp_path)
    (tmp_path / "requirements.lock").write_text("pandas==3.0\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    found = provenance.card_provenance(
        {"commit": "c0ffee", "dirty": False}, {"b.json": "22", "a.keras": "11"}, raw, tmp_path
    )
    assert found["model_code"] == {"commit": "c0ffee", "dirty": False}
    assert found["card_code"] == {"commit": None, "dirty": True}  # no dvc.yaml, no git
    assert found["run_date"]["source"] == "SOURCE_DATE_EPOCH"
    assert found["raw_data"]["sha256"] == provenance.combined_sha256(provenance.tree_sha256(raw))
    assert list(found["bundle_files"]) == ["a.keras", "b.json"]
    assert found["dvc_lock_md5"] == dict.fromkeys(provenance.LOCKED_OUTPUTS)
    assert found["requirements_lock_sha256"] == provenance.file_sha256(
        tmp_path / "requirements.lock"
    )
    assert provenance.file_sha256(tmp_path / "missing") is None
    assert found["packages"]["pandas"]
