"""Tracking: a Keras 3 fit logs per-epoch metrics to a W&B run, offline by default, disabled in
tests unless asked; the offline run is on disk for a later ``wandb sync``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tabstudy import tracking


class FakeRun:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def log(self, row: dict) -> None:
        self.rows.append(row)


def _fit(callback: keras.callbacks.Callback, epochs: int = 3) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)).astype("float32"), rng.integers(0, 2, 64).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    model.fit(x, y, validation_data=(x, y), epochs=epochs, verbose=0, callbacks=[callback])


def test_epoch_logger_logs_every_epoch() -> None:
    run = FakeRun()
    _fit(tracking.EpochLogger(run))
    assert [r["epoch"] for r in run.rows] == [1, 2, 3]
    assert {"loss", "auc", "val_loss", "val_auc"} <= set(run.rows[0])


def test_mode_defaults_to_offline(monkeypatch) -> None:
    monkeypatch.delenv(tracking.MODE_ENV, raising=False)
    assert tracking.mode() == "offline"
    monkeypatch.setenv(tracking.MODE_ENV, "disabled")
    assert tracking.mode() == "disabled"


@pytest.mark.parametrize("mode", ["offline", "disabled"])
def test_runs_offline_on_disk_or_not_at_all(workdir: Path, monkeypatch, mode: str) -> None:
    monkeypatch.setenv(tracking.MODE_ENV, mode)
    run = tracking.start_run("train", {"units": 8, "seed": 1}, group="test")
    _fit(tracking.EpochLogger(run), epochs=2)
    tracking.finish(run, {"val_auc": 0.5, "nested": {"ignored": 1}})
    runs = list((workdir / "wandb").glob("offline-run-*/run-*.wandb"))
    if mode == "disabled":
        assert runs == []
        return
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    wandb = Path(sys.executable).parent / "wandb"
    dry = subprocess.run(
        [str(wandb), "sync", "--dry-run"], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert "Would sync 1 run(s)" in dry.stdout + dry.stderr
