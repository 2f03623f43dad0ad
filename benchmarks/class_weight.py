"""What ``train.class_weight: balanced`` does on an imbalanced table, measured on one generated
table in one run: ranking (ROC AUC, PR AUC) and probabilities (log loss, Brier, expected
calibration error, mean probability against the real positive rate).

A 5%-positive table (numeric and categorical columns, a logistic ground truth) goes through the
table study's own split and preprocessing; the train stage's network (default hyperparameters,
early stopping on the validation window) is fitted three ways, each from the same seed:

* ``none``                the default: every row weighs the same;
* ``balanced, raw``       each class weighs half the loss, probabilities as trained;
* ``balanced, shifted``   the same network after :func:`keras_model.undo_class_weight` (what the
  train stage ships): the output logit moved by ``-log(w1 / w0)``.

Usage: .venv/bin/python benchmarks/class_weight.py [--rows 40000] [--positive 0.05] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from tabstudy import evaluation, studies
from tabstudy.models import keras_model as km
from tabstudy.spec import LABEL
from tabstudy.studies.table import config as table_config


def table(rows: int, positive: float, seed: int) -> pd.DataFrame:
    """A table whose label follows a logistic model with about ``positive`` positives."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    plan = rng.choice(["basic", "plus", "pro", "team"], rows)
    logit = x @ np.array([1.0, -0.7, 0.4, 0.0]) + np.where(plan == "basic", 0.6, 0.0)
    shift = np.log(positive / (1 - positive)) - np.median(logit)  # about that share positive
    y = rng.random(rows) < 1 / (1 + np.exp(-(logit + shift - 0.9)))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "noise"]).assign(plan=plan)
    return frame.assign(outcome=np.where(y, "yes", "no"))


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins (as the model card computes it)."""
    points = evaluation.metrics.calibration_points(y, p, bins)
    gap = (points["fraction_positive"] - points["mean_predicted"]).abs()
    return float((gap * points["count"]).sum() / points["count"].sum())


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Ranking and probability metrics of ``p`` on labels ``y``."""
    m = evaluation.metrics.metrics(y, p)
    return {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"], "log_loss": m["log_loss"],
            "brier": m["brier"], "ece": ece(y, p), "mean_p": float(np.mean(p)),
            "positive_rate": float(np.mean(y))}  # fmt: skip


def main() -> None:
    """Fit the network unweighted and balanced on one generated table; print the metrics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--positive", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raw = table(args.rows, args.positive, args.seed)
    data = table_config.FileData(
        source="file", path="generated.csv", delimiter=",", sample_frac=1.0
    )
    target = table_config.FileTarget(column="outcome", positive="yes")
    feats = table_config.TableFeatures(time_column=None, categorical=None, numeric=None, exclude=[],
                                 valid_frac=0.15, test_frac=0.15, slices=[], reference_bins=10,
                                 leakage_auc=0.98, allow_leaky={})  # fmt: skip
    splits, spec = studies.get("file").build({"generated": raw}, data, target, feats, args.seed)
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    hp = km.Hyperparameters(batch_size=512)
    rows = {}
    for rule in ("none", "balanced"):
        km.set_determinism(args.seed)
        pre = km.build_preprocessor(train, spec)
        core = km.build_core(km.vocab_sizes(pre), km.numeric_width(pre), hp,
                             float(train[LABEL].mean()))  # fmt: skip
        weights = km.class_weights(km.labels(train), rule)
        km.fit_examples(core, km.encoded_frame(train, pre), km.encoded_frame(valid, pre),
                        hp.batch_size, args.seed, epochs=40, verbose=0,
                        callbacks=km.training_callbacks(3),
                        class_weight=km.keras_class_weight(weights))  # fmt: skip
        model = km.export_model(pre, core)
        y = km.labels(test)
        if weights is None:
            rows["none"] = scores(y, km.predict(model, test))
            continue
        rows["balanced, raw"] = scores(y, km.predict(model, test))
        km.undo_class_weight(core, weights)
        rows["balanced, shifted"] = scores(y, km.predict(model, test))
    out = pd.DataFrame(rows).T
    print(f"{args.rows:,} rows, {out['positive_rate'].iloc[0]:.1%} positive in the test split "
          f"({len(test):,} rows); network with early stopping, seed {args.seed}")  # fmt: skip
    print(out.drop(columns="positive_rate").round(4).to_string())
    base = out.loc["none"]
    for name in ("balanced, raw", "balanced, shifted"):
        r = out.loc[name]
        print(f"{name} against none: ROC AUC {r['roc_auc'] - base['roc_auc']:+.4f}, PR AUC "
              f"{r['pr_auc'] - base['pr_auc']:+.4f}, ECE {r['ece'] / base['ece']:.1f}x, "
              f"mean probability {r['mean_p']:.4f} for a real rate of "
              f"{r['positive_rate']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
