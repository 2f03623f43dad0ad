"""Data-parallel training with MultiWorkerMirroredStrategy (tabstudy.models.distributed).

Fast tests: the TF_CONFIG builder, the worker environment, the per-worker split of the global
batches, the launcher's error and timeout paths (with stand-in worker commands).

Slow tests: one small synthetic problem with a known signal (2,400 training rows, 1,200
validation rows), trained in this process and by two worker processes on loopback with the same
global batch (256), epochs (4) and seed. Both runs see the same global batches in the same order
from the same initial weights; they differ only in the order of floating-point sums and in the
dropout masks (drawn per replica). Their validation ROC AUCs must both be well above chance
(> 0.7) and agree within ``AUC_TOLERANCE`` = 0.02. Why 0.02: changing only the seed of a
single-process run moves this problem's AUC with a standard deviation of 0.002 (range 0.006
over seeds 0-4, measured); a multi-worker run is at worst another draw of that noise, so 0.02
is far outside it, yet small against the ~0.37 the models gain over chance. That the workers
really trained one model together is checked directly: both replicas end with identical weights
(a missing gradient all-reduce would let them drift apart), both logged the same global metrics,
and each saw half of every global batch.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import tabstudy
from tabstudy.models import distributed as dist
from tabstudy.models import keras_model as km
from tabstudy.spec import LABEL, Feature, FeatureSet

AUC_TOLERANCE = 0.02
MIN_AUC = 0.7
WORKER_TIMEOUT_S = 240.0
SEED = 0

# --- fast ---------------------------------------------------------------------------------------


def test_tf_configs_one_task_per_worker_on_loopback() -> None:
    configs = dist.cluster.tf_configs(3)
    cluster = configs[0]["cluster"]["worker"]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == {"worker": cluster} for c in configs)
    hosts, ports = zip(*(a.split(":") for a in cluster), strict=True)
    assert set(hosts) == {"127.0.0.1"} and len(set(ports)) == 3
    assert all(1024 <= int(p) <= 65535 for p in ports)


def test_tf_configs_rejects_no_workers() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        dist.cluster.tf_configs(0)


def test_worker_env_sets_tf_config_and_drops_proxies() -> None:
    import json

    base = {"PATH": "/bin", "https_proxy": "http://p:1", "GRPC_PROXY": "x", "TABSTUDY_STAGING": "s"}
    env = dist.cluster.worker_env(dist.cluster.tf_configs(2)[1], base)
    assert json.loads(env["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}
    assert not {"https_proxy", "GRPC_PROXY", "TABSTUDY_STAGING"} & set(env)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(
        Path(tabstudy.__file__).resolve().parents[1]
    )


def _tiny(n: int) -> km.Encoded:
    import tensorflow as tf

    rows = np.arange(n)
    return km.Encoded({"c": tf.constant(rows.reshape(-1, 1))}, tf.constant(rows.astype("float32")))


def _rows(dataset) -> list[list[int]]:
    return [sorted(np.asarray(x["c"]).reshape(-1).tolist()) for x, _ in dataset]


def test_worker_parts_make_up_the_single_process_batches() -> None:
    km.set_determinism(3)
    examples = _tiny(10)
    single = _rows(km.batches(examples, 4, seed=3))
    parts = [_rows(dist.worker.worker_batches(examples, 4, w, 2, seed=3)) for w in (0, 1)]
    assert [len(p) for p in parts[0]] == [2, 2, 1] and [len(p) for p in parts[1]] == [2, 2, 1]
    assert [sorted(a + b) for a, b in zip(*parts, strict=True)] == single


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_failed_worker_is_named_and_the_others_are_stopped(tmp_path) -> None:
    pid_file = tmp_path / "pid0"
    sleeper = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
    sleeper += "time.sleep(120)"
    crasher = "import sys, time; time.sleep(1); print('bad shard: row 7', file=sys.stderr); "
    crasher += "sys.exit(3)"
    envs = [dict(os.environ)] * 2
    start = time.monotonic()
    with pytest.raises(dist.job.WorkerFailed) as info:
        dist.launcher.run_workers([_python(sleeper), _python(crasher)], envs, tmp_path / "logs", 60)
    assert time.monotonic() - start < 30
    err = info.value
    assert (err.index, err.returncode) == (1, 3) and "bad shard: row 7" in err.stderr_tail
    assert "worker 1 exited with 3" in str(err) and "bad shard: row 7" in str(err)
    with pytest.raises(ProcessLookupError):  # stopped and reaped: not even a zombie is left
        os.kill(int(pid_file.read_text()), 0)


def test_worker_that_does_not_finish_in_time_is_named(tmp_path) -> None:
    done = _python("pass")
    stuck = _python(
        "import sys, time; print('waiting for peers', file=sys.stderr, flush=True); time.sleep(120)"
    )
    with pytest.raises(dist.job.WorkerFailed, match="worker 1 did not finish in time") as info:
        dist.launcher.run_workers([done, stuck], [dict(os.environ)] * 2, tmp_path, timeout_s=3)
    assert info.value.returncode is None and "waiting for peers" in info.value.stderr_tail


def test_fit_core_rejects_an_unknown_mode() -> None:
    args = dist.job.CoreArgs({}, 2, km.Hyperparameters(), 0.5)
    fit = dist.job.FitSettings(1, 8, 1, 0)
    with pytest.raises(ValueError, match="'parameter_server'"):
        dist.launcher.fit_core("parameter_server", 2, None, args, None, None, fit)  # type: ignore[arg-type]


def test_fit_core_multi_worker_loads_the_workers_weights_and_replays_epochs(monkeypatch) -> None:
    import keras

    args = dist.job.CoreArgs({"c": 4}, 2, km.Hyperparameters(units=4, layers=1), 0.3)
    trained, history = args.build(), {"loss": [0.7, 0.6], "val_loss": [0.8, 0.7]}
    calls: list[tuple] = []

    def fake_launcher(*a, **_):
        calls.append(a)
        return dist.job.MultiWorkerResult(trained, history, [])

    monkeypatch.setattr(dist.launcher, "train_multi_worker", fake_launcher)
    epochs: list[int] = []
    logger = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e))
    core, fit = args.build(), dist.job.FitSettings(2, 8, 1, 0)
    out = dist.launcher.fit_core("multi_worker", 3, core, args, "train", "valid", fit, [logger])
    assert calls == [(args, "train", "valid", fit, 3, dist.launcher.DEFAULT_TIMEOUT_S)]
    assert km.weights_digest(core) == km.weights_digest(trained)
    assert out.history == history and epochs == [0, 1]


def test_replay_history_feeds_epoch_callbacks_in_order() -> None:
    import keras

    seen: list[tuple[int, dict]] = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None) -> None:
            seen.append((epoch, dict(logs or {})))

    out = dist.launcher.replay_history({"loss": [0.5, 0.4], "val_loss": [0.6, 0.55]}, [Probe()])
    assert seen == [(0, {"loss": 0.5, "val_loss": 0.6}), (1, {"loss": 0.4, "val_loss": 0.55})]
    assert out.history["val_loss"] == [0.6, 0.55] and out.epoch == [0, 1]


def test_job_round_trips_through_json() -> None:
    args = dist.job.CoreArgs({"c": 4}, 6, km.Hyperparameters(units=8, batch_size=64), 0.25)
    job = dist.job.WorkerJob("a.npz", "b.npz", args, dist.job.FitSettings(3, 64, 2, 7), "out", 1)
    assert dist.job.WorkerJob.from_json(job.to_json()) == job


# --- slow: the real thing -----------------------------------------------------------------------


def synthetic(n: int, seed: int) -> pd.DataFrame:
    """Two categoricals and three numerics (one with gaps); the label follows a known logit."""
    rng = np.random.default_rng(seed)
    c1, c2 = rng.choice(list("abcdefgh"), n), rng.choice(list("vwxyz"), n)
    x = rng.normal(size=(n, 3))
    effect = dict(zip("abcdefgh", np.linspace(-1.5, 1.5, 8), strict=True))
    logit = 1.5 * x[:, 0] - x[:, 1] + np.vectorize(effect.get)(c1) + 0.8 * (c2 == "v") - 0.5
    frame = pd.DataFrame({"c1": c1.astype(object), "c2": c2.astype(object)})
    frame[["x1", "x2", "x3"]] = x
    frame.loc[::11, "x3"] = np.nan
    frame[LABEL] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    return frame


SPEC = FeatureSet(
    tuple(Feature(n, "categorical", "t", "", "") for n in ("c1", "c2"))
    + tuple(Feature(n, "numeric", "t", "", "") for n in ("x1", "x2", "x3"))
)
HPARAMS = km.Hyperparameters(
    units=32, layers=2, dropout=0.1, learning_rate=5e-3, embedding_dim=4, batch_size=256
)
FIT = dist.job.FitSettings(epochs=4, batch_size=HPARAMS.batch_size, patience=3, seed=SEED)


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """Encoded train (2,400 rows) and valid (1,200 rows) splits and the core's arguments."""
    work = tmp_path_factory.mktemp("problem")
    train, valid = synthetic(2400, 0), synthetic(1200, 1)
    train.to_parquet(work / "train.parquet")
    valid.to_parquet(work / "valid.parquet")
    km.set_determinism(SEED)
    pre = km.build_preprocessor(train, SPEC)
    enc = {s: km.encoded_examples(work / f"{s}.parquet", pre) for s in ("train", "valid")}
    args = dist.job.CoreArgs(
        km.vocab_sizes(pre), km.numeric_width(pre), HPARAMS, float(train[LABEL].mean())
    )
    return args, enc["train"], enc["valid"]


def valid_auc(core, valid: km.Encoded) -> float:
    probs = core.predict(km.batches(valid, 4096), verbose=0).reshape(-1)
    return float(roc_auc_score(np.asarray(valid.labels), probs))


@pytest.fixture(scope="module")
def single(problem):
    args, train, valid = problem
    km.set_determinism(SEED)
    core = args.build()
    start = time.monotonic()
    history = dist.launcher.fit_core("none", 1, core, args, train, valid, FIT)
    seconds = time.monotonic() - start
    auc = valid_auc(core, valid)
    print(
        f"\nsingle process: valid AUC {auc:.4f} in {seconds:.1f} s, "
        f"{len(history.history['loss'])} epochs"
    )
    return auc, seconds


@pytest.fixture(scope="module")
def multi(problem, tmp_path_factory):
    args, train, valid = problem
    start = time.monotonic()
    work = tmp_path_factory.mktemp("multi")
    result = dist.launcher.train_multi_worker(args, train, valid, FIT, 2, WORKER_TIMEOUT_S, work)
    seconds = time.monotonic() - start
    auc = valid_auc(result.core, valid)
    print(
        f"\n2 workers: valid AUC {auc:.4f} in {seconds:.1f} s (process start included), "
        f"{len(result.history['loss'])} epochs"
    )
    return result, auc, seconds


@pytest.mark.slow
def test_two_workers_reach_the_single_process_auc(single, multi) -> None:
    auc_single, auc_multi = single[0], multi[1]
    assert auc_single > MIN_AUC and auc_multi > MIN_AUC
    assert abs(auc_multi - auc_single) <= AUC_TOLERANCE, (auc_single, auc_multi)


@pytest.mark.slow
def test_two_worker_processes_each_trained_on_half_of_every_batch(problem, multi) -> None:
    result = multi[0]
    reports = result.reports
    assert [r["index"] for r in reports] == [0, 1] and [r["workers"] for r in reports] == [2, 2]
    assert len({r["pid"] for r in reports} | {os.getpid()}) == 3
    n_train, n_valid = len(problem[1]), len(problem[2])
    assert sum(r["train_rows_seen_per_epoch"] for r in reports) == n_train
    assert sum(r["valid_rows_seen"] for r in reports) == n_valid
    assert all(abs(r["train_rows_seen_per_epoch"] - n_train / 2) <= 1 for r in reports)
    # one model: the replicas stayed identical, and this process got exactly their weights
    digests = {r["weights_sha256"] for r in reports}
    assert digests == {km.weights_digest(result.core)}
    # epoch metrics are all-reduced: both workers logged the same global values
    assert reports[0]["history"] == reports[1]["history"] == result.history
    assert len(result.history["val_auc"]) == reports[0]["epochs_run"] >= 1


@pytest.mark.slow
def test_two_multi_worker_runs_give_identical_weights(problem, multi, tmp_path) -> None:
    args, train, valid = problem
    again = dist.launcher.train_multi_worker(args, train, valid, FIT, 2, WORKER_TIMEOUT_S, tmp_path)
    assert km.weights_digest(again.core) == km.weights_digest(multi[0].core)
    assert again.history == multi[0].history
