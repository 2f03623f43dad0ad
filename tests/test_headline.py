"""Headline metrics: the few numbers per stage that `dvc metrics show` lists, picked from the
stage's detail file; the table they make fits 120 columns even with the widest values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tabstudy.pipeline.stages import COMMANDS, STAGES, stage
from tabstudy.stages.base import Stage, headline_values

from .conftest import METRICS_WIDTH, REPO

EVALUATE = {
    "test": {"model": {"roc_auc": 0.73, "pr_auc": 0.52}, "logreg": {"roc_auc": 0.72}},
    "roc_auc_ci95": {"model": [0.72, 0.74]},
    "promotion": {"decision": "promote", "reasons": []},
}


def test_values_are_picked_by_dotted_path_and_list_index() -> None:
    assert headline_values(stage("evaluate"), EVALUATE) == {
        "roc_auc": 0.73,
        "auc_lo": 0.72,
        "auc_hi": 0.74,
        "pr_auc": 0.52,
        "decision": "promote",
    }


def test_a_missing_or_null_value_is_left_out() -> None:
    s = Stage("x", headline=(("a", "a.b"), ("c", "c"), ("d", "d.5"), ("e", "e.0")))
    assert headline_values(s, {"a": {"b": None}, "d": [1], "e": [0.5]}) == {"e": 0.5}
    assert headline_values(stage("backtest"), {"applicable": False}) == {}


def _widest(s: Stage) -> dict[str, object]:
    """A headline of ``s`` with the widest values a study could give."""
    wide = {"rows": 123_456_789, "decision": "champion", "fail": 999, "warn": 999, "alerts": 999}
    return {key: wide.get(key, 0.123456789) for key, _ in s.headline}


def test_dvc_metrics_show_of_the_widest_headlines_fits_120_columns(tmp_path: Path) -> None:
    """Every stage's headline file, with 9-digit row counts and full-precision scores, through
    the real `dvc metrics show` and the top-level metrics of the generated dvc.yaml."""
    listed = yaml.safe_load((REPO / "dvc.yaml").read_text())["metrics"]
    with_headline = [s for s in (*STAGES, *COMMANDS) if s.headline]
    assert listed == [f"reports/metrics/{s.name}.json" for s in with_headline]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"metrics": listed}))
    for s in with_headline:
        path = tmp_path / "reports" / "metrics" / f"{s.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_widest(s)))
    dvc = [str(Path(sys.executable).parent / "dvc")]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    out = subprocess.run([*dvc, "metrics", "show"], cwd=tmp_path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    lines = out.stdout.splitlines()
    assert len(lines) == 1 + len(with_headline), out.stdout
    assert max(len(line) for line in lines) <= METRICS_WIDTH, out.stdout


def test_only_headline_files_are_dvc_metrics_and_every_detail_file_is_an_output() -> None:
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert not [m for m in doc["metrics"] if "/detail/" in m]
    for s in (*STAGES, *COMMANDS):
        outs = [next(iter(o)) for o in doc["stages"][s.name].get("outs", [])]
        for detail in s.metrics:
            assert detail.startswith("reports/metrics/detail/") and detail in outs, s.name
