"""The source stage: ingest depends on the SHA-256 of the files the configured study reads, not
on the whole external/ folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tabstudy import paths
from tabstudy.pipeline import source

from .conftest import REPO, set_params


def test_stamp_names_each_table_with_its_digest_and_a_missing_file_with_none(workdir) -> None:
    table = workdir / "external" / "t.csv"
    table.parent.mkdir()
    table.write_text("a,b\n1,2\n")
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    got = source.stamp("file", {"t": Path("external/t.csv"), "gone": Path("external/gone.csv")})
    assert got == {"source": "file", "sha256": {"gone": None, "t": digest}}


def test_the_stage_stamps_the_configured_file_only(workdir) -> None:
    """`python -m tabstudy.pipeline.source` under the breast_cancer profile: the stamp holds
    the configured file's digest; another file under external/ is not in it."""
    (workdir / "external").mkdir()
    (workdir / "external" / "breast_cancer.csv").write_text("diagnosis\nbenign\n")
    (workdir / "external" / "other.csv").write_text("x\n1\n")
    set_params(workdir, profile="breast_cancer")
    subprocess.run([sys.executable, "-m", "tabstudy.pipeline.source"], check=True, cwd=workdir)
    stamp = json.loads((workdir / "data" / "source.json").read_text())
    assert stamp["source"] == "file" and list(stamp["sha256"]) == ["breast_cancer"]
    assert paths.source_stamp() == workdir / "data" / "source.json"


def test_ingest_depends_on_the_stamp_not_on_external() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "data/source.json" in stages["ingest"]["deps"]
    assert not [d for d in stages["ingest"]["deps"] if d.startswith("external")]
    assert stages["source"]["always_changed"] is True
    assert stages["source"]["outs"] == [{"data/source.json": {"persist": True}}]
