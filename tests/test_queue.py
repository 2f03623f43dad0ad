"""Parallel experiments on DVC's own queue: two param variants queued with
``dvc exp run --queue``, run by ``dvc queue start -j 2``, both listed by ``dvc exp show`` with
their params and metrics (on a committed copy of the smoke run)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import dvc.api
import pytest

from .conftest import committed_copy, run_in

pytestmark = pytest.mark.slow
VARIANTS = {"one-epoch": 1, "two-epochs": 2}
"""Experiment name -> ``train.profiles.smoke.epochs`` (the smoke run trains 3)."""
TRAIN_DETAIL = "reports/metrics/detail/train.json"


def _experiments(shown: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``dvc exp show --json`` -> experiment name -> its data (params, metrics), for the
    experiments of the workspace's baseline commit."""
    found = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name"):
                    found[rev["name"]] = rev.get("data") or {}
    return found


def _queue_settled(repo: Path, timeout: float) -> str:
    """Poll ``dvc queue status`` until nothing is queued or running; its last output."""
    deadline = time.monotonic() + timeout
    while True:
        status = run_in(repo, "dvc", "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        if time.monotonic() > deadline:
            run_in(repo, "dvc", "queue", "kill", *VARIANTS, check=False)
            raise AssertionError(f"the queue did not finish in {timeout:.0f} s:\n{status}")
        time.sleep(3)


def test_two_queued_variants_run_in_parallel_and_are_compared(smoke_run, tmp_path) -> None:
    repo = committed_copy(smoke_run[0], tmp_path / "repo")
    for name, epochs in VARIANTS.items():
        out = run_in(repo, "dvc", "exp", "run", "--queue", "-n", name,
                     "-S", f"train.profiles.smoke.epochs={epochs}")  # fmt: skip
        assert "Queued experiment" in out.stdout + out.stderr
    run_in(repo, "dvc", "queue", "start", "-j", "2")
    try:
        status = _queue_settled(repo, timeout=900)
    finally:
        run_in(repo, "dvc", "queue", "stop", check=False)
    logs = {name: run_in(repo, "dvc", "queue", "logs", name, check=False).stdout[-3000:]
            for name in VARIANTS if f"{name}  " not in status or "Failed" in status}  # fmt: skip
    assert status.count("Success") == len(VARIANTS), (status, logs)

    shown = _experiments(json.loads(run_in(repo, "dvc", "exp", "show", "--json").stdout))
    assert set(VARIANTS) <= set(shown), shown.keys()
    for name, epochs in VARIANTS.items():
        data = shown[name]
        params = data["params"]["params.yaml"]["data"]
        assert params["train"]["profiles"]["smoke"]["epochs"] == epochs
        metrics = data["metrics"]  # the headline files: every number is in the detail files
        evaluate = metrics["reports/metrics/evaluate.json"]["data"]
        assert 0.5 < evaluate["roc_auc"] < 1.0, (name, evaluate)
        train = json.loads(dvc.api.read(TRAIN_DETAIL, repo=str(repo), rev=name))
        assert train["epochs_run"] == epochs, (name, train)
    # the workspace is the baseline's: the queue ran in its own copies
    assert json.loads((repo / TRAIN_DETAIL).read_text())["epochs_run"] == 3
