"""Bring your own data, end to end through real DVC: the breast cancer example (a CSV written from
scikit-learn) under ``profile: smoke,breast_cancer``, then every kind of bad input file.

Each bad file makes ``dvc repro`` exit non-zero with an error naming the file, the column or
problem, the rule and an example value, and the last good outputs stay exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from tabstudy.pipeline.stages import COMMANDS, STAGES

from .conftest import copy_repo, run_in, set_params, stages_ran
from .test_serving import _start, _stop

pytestmark = pytest.mark.slow
ALL_STAGES = [s.name for s in (*STAGES, *COMMANDS)]
GUARDED = ("models", "data/processed", "reports/metrics", "reports/model_card.html")


@pytest.fixture(scope="module")
def byo(tmp_path_factory) -> tuple[Path, str]:
    work = copy_repo(tmp_path_factory.mktemp("byo") / "repo")
    run_in(work, "git", "init", "-q")
    run_in(
        work,
        "python",
        "-m",
        "tabstudy.data.examples",
        "breast_cancer",
        "external/breast_cancer.csv",
    )
    set_params(work, profile="smoke,breast_cancer")
    out = run_in(work, "dvc", "repro")
    return work, out.stdout


def _json(work: Path, rel: str) -> dict:
    return json.loads((work / rel).read_text())


def test_example_runs_every_stage(byo) -> None:
    work, log = byo
    ran = stages_ran(log)
    assert sorted(ran) == sorted(ALL_STAGES) and ran[-1] == "index", ran
    spec = _json(work, "data/processed/feature_spec.json")
    assert len(spec["features"]) == 30 and {f["kind"] for f in spec["features"]} == {"numeric"}
    assert spec["slices"] == ["mean_radius"]
    split = _json(work, "reports/metrics/features.json")["splits"]
    assert {k: v["rows"] for k, v in split.items()} == {"train": 397, "valid": 86, "test": 86}
    assert {round(v["positive_rate"], 2) for v in split.values()} == {0.37}  # stratified
    ingest = _json(work, "reports/metrics/ingest.json")
    digest = hashlib.sha256((work / "external" / "breast_cancer.csv").read_bytes()).hexdigest()
    assert ingest["source"] == "file" and ingest["sha256"] == digest
    report = _json(work, "reports/anomalies.json")
    assert report["contract"] == "breast_cancer" and report["fail"] == 0 and report["rules"] > 90


def test_example_model_is_evaluated_and_carded(byo) -> None:
    work, _ = byo
    evaluate = _json(work, "reports/metrics/evaluate.json")
    auc = evaluate["test"]["model"]["roc_auc"]
    lo, hi = evaluate["roc_auc_ci95"]["model"]
    assert 0.9 <= lo <= auc <= hi and evaluate["blessing"]["blessed"]
    slices = pd.read_csv(work / "reports" / "plots" / "evaluate" / "slices.csv")
    assert set(slices["slice"]) == {"mean_radius"} and len(slices) == 4
    card = (work / "reports" / "model_card.md").read_text()
    assert "Is a breast mass malignant?" in card and "mean_concave_points" in card
    assert "split at random (stratified by the target)" in card
    assert _json(work, "reports/metrics/eda.json") == {"positive_rate": 212 / 569, "rows": 569}
    findings = _json(work, "reports/findings/eda.json")
    assert findings[0].startswith("37.3% of 569 labelled rows are positive")


def test_a_table_study_is_served_from_its_columns(byo) -> None:
    """A table has no entities: the request carries the feature columns (schema generated from
    the spec), no store is looked up, and the served probabilities equal the offline ones."""
    work, _ = byo
    code = (
        "import pandas as pd, sys\n"
        "from tabstudy import paths\n"
        "from tabstudy.models import keras_model\n"
        "from tabstudy.models.bundle import load_bundle\n"
        "rows = pd.read_parquet(paths.processed('test'))\n"
        "p = keras_model.predict(load_bundle(paths.bundle_dir()).keras_model(), rows)\n"
        "rows.assign(p=p).to_parquet(sys.argv[1])\n"
    )
    run_in(work, sys.executable, "-c", code, str(work / "offline.parquet"))
    offline = pd.read_parquet(work / "offline.parquet")
    names = [f["name"] for f in _json(work, "data/processed/feature_spec.json")["features"]]
    proc, url = _start(work)
    try:
        meta = httpx.get(f"{url}/v1/metadata").json()
        assert meta["study"] == "file" and meta["online_store"] == {}
        schema = httpx.get(f"{url}/openapi.json").json()["components"]["schemas"]["TableRow"]
        assert sorted(schema["properties"]) == sorted(names)
        body = {n: offline[n].tolist() for n in names}
        served = httpx.post(f"{url}/v1/predict/batch", json=body, timeout=60).json()
        np.testing.assert_allclose(served["probabilities"], offline["p"], rtol=0, atol=1e-6)
        one = {n: float(offline[n].iloc[0]) for n in names} | {names[0]: None}
        assert httpx.post(f"{url}/v1/predict", json=one).status_code == 200
        bad = httpx.post(f"{url}/v1/predict", json={names[1]: "large"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", names[1]]
    finally:
        _stop(proc)


def _guarded(work: Path) -> dict[str, str]:
    out = {}
    for rel in (*GUARDED, "data/raw"):
        root = work / rel
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        out |= {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return out


def _good(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / "external" / "breast_cancer.csv")


def _csv(text_of: Callable[[pd.DataFrame], str | bytes]) -> Callable[[Path, Path], None]:
    def write(work: Path, dest: Path) -> None:
        content = text_of(_good(work))
        dest.write_bytes(content if isinstance(content, bytes) else content.encode())

    return write


def _frame(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path, Path], None]:
    def write(work: Path, dest: Path) -> None:
        change(_good(work)).to_csv(dest, index=False)

    return write


def _truncated_parquet(work: Path, dest: Path) -> None:
    good = dest.with_name("good.parquet")
    _good(work).to_parquet(good)
    dest.write_bytes(good.read_bytes()[:-200])


def _set(frame: pd.DataFrame, column: str, value: object) -> pd.DataFrame:
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = value
    return frame


BAD_INPUTS = {
    # name: (file suffix, writer, stage that stops, expected message parts)
    "truncated_csv": (".csv", _csv(lambda f: f.to_csv(index=False)[:-25]), "ingest",
                      ["last line, the file looks truncated"]),
    "truncated_parquet": (".parquet", _truncated_parquet, "ingest", ["truncated or corrupt"]),
    "wrong_delimiter": (".csv", _csv(lambda f: f.to_csv(index=False, sep=";")), "ingest",
                        ["seems to use ';' as delimiter"]),
    "non_utf8": (".csv", _csv(lambda f: f.to_csv(index=False).replace("benign", "b\xe9nign", 1)
                              .encode("latin-1")), "ingest", ["not UTF-8 text: byte b'\\xe9'"]),
    "empty_file": (".csv", _csv(lambda f: ""), "ingest", ["the file is empty (0 bytes)"]),
    "header_only": (".csv", _csv(lambda f: f.head(0).to_csv(index=False)), "ingest",
                    ["header only, no data rows"]),
    "duplicated_columns": (".csv", _csv(lambda f: f.to_csv(index=False).replace(
        "mean_texture", "mean_radius", 1)), "ingest", ["duplicated column name(s): mean_radius"]),
    "missing_column": (".csv", _frame(lambda f: f.drop(columns=["mean_area"])), "validate",
                       ["column 'mean_area'", "rule 'column present'"]),
    "text_in_numeric": (".csv", _frame(lambda f: _set(f, "mean_area", "large")), "validate",
                        ["column 'mean_area'", "rule 'type float'", "example: 'large'"]),
    "infinity": (".csv", _frame(lambda f: _set(f, "mean_area", np.inf)), "validate",
                 ["column 'mean_area'", "rule 'finite'", "example: inf"]),
    "duplicated_key": (".csv", _frame(lambda f: f.assign(case_id=[0, *range(len(f) - 1)])),
                       "validate", ["column 'case_id'", "rule 'unique key'", "{'case_id': 0}"]),
    "single_class_target": (".csv", _frame(lambda f: f.assign(diagnosis="benign")), "validate",
                            ["column 'diagnosis'", "rule 'positive value occurs'",
                             "no row equals 'malignant'", "it holds 'benign' (569)"]),
    # the contract's table name is the file stem: a renamed file names both and the rule
    "renamed_file": (".csv", _csv(lambda f: f.to_csv(index=False)), "validate",
                     ["expects a table 'breast_cancer'", "'cancer_cases' from ",
                      "file name without the suffix"]),
}  # fmt: skip
RENAMED = {"renamed_file": "cancer_cases"}


def _declare_case_id_key(work: Path) -> None:
    path = work / "contracts" / "breast_cancer.yaml"
    contract = yaml.safe_load(path.read_text())
    table = contract["tables"]["breast_cancer"]
    table["columns"]["case_id"] = {"type": "int", "nullable": False}
    table["key"] = ["case_id"]
    path.write_text(yaml.safe_dump(contract, sort_keys=False))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_stops_with_clear_error_and_keeps_outputs(byo, case, tmp_path) -> None:
    work, _ = byo
    suffix, write, stage, expected = BAD_INPUTS[case]
    contract = work / "contracts" / "breast_cancer.yaml"
    saved_contract = contract.read_text()
    stem = RENAMED.get(case, "breast_cancer")  # else the same table name as the contract
    bad = work / "external" / case / f"{stem}{suffix}"
    bad.parent.mkdir(parents=True, exist_ok=True)
    write(work, bad)
    if case == "duplicated_key":
        _declare_case_id_key(work)
    before = _guarded(work)
    set_params(work, **{"data.profiles.breast_cancer.path": str(bad.relative_to(work))})
    try:
        out = run_in(work, "dvc", "repro", check=False)
    finally:
        set_params(work, **{"data.profiles.breast_cancer.path": "external/breast_cancer.csv"})
        contract.write_text(saved_contract)
    log = out.stdout + out.stderr
    assert out.returncode != 0, log
    assert f"stage '{stage}' FAILED" in log, log
    assert str(bad.relative_to(work)) in log, log  # the path as params.yaml spells it ...
    assert str(bad) not in log, log  # ... not a machine path
    for part in expected:
        assert part in log, f"{part!r} not in:\n{log}"
    after = _guarded(work)
    if stage == "ingest":
        assert after == before, "a failed ingest changed outputs"
    else:  # ingest copied the (bad) input faithfully; nothing after it changed
        assert {
            k: v
            for k, v in after.items()
            if not k.startswith(("data/raw", "reports/metrics/ingest"))
        } == {
            k: v
            for k, v in before.items()
            if not k.startswith(("data/raw", "reports/metrics/ingest"))
        }


def test_after_a_failed_validate_dvc_checkout_restores_the_last_good_raw_data(byo) -> None:
    """A file that passes ingest but breaks a hard rule replaces data/raw (ingest succeeded);
    the README's recovery, `git checkout dvc.lock && dvc checkout`, brings the raw data that
    belongs to the models back from the DVC cache."""
    work, _ = byo
    run_in(work, "dvc", "repro")  # back to the good file: a bad case refused at validate left
    # its own raw data and ingest lock entry (the renamed file: another table's name)
    before, lock = _guarded(work), (work / "dvc.lock").read_text()
    bad = work / "external" / "recover" / "breast_cancer.csv"
    bad.parent.mkdir(parents=True, exist_ok=True)
    _frame(lambda f: _set(f, "mean_area", "large"))(work, bad)
    set_params(work, **{"data.profiles.breast_cancer.path": str(bad.relative_to(work))})
    try:
        out = run_in(work, "dvc", "repro", check=False)
    finally:
        set_params(work, **{"data.profiles.breast_cancer.path": "external/breast_cancer.csv"})
    assert out.returncode != 0 and "stage 'validate' FAILED" in out.stderr
    assert (
        _guarded(work)["data/raw/breast_cancer.parquet"] != before["data/raw/breast_cancer.parquet"]
    )
    (work / "dvc.lock").write_text(lock)  # what `git checkout dvc.lock` does in a real clone
    run_in(work, "dvc", "checkout", "--force")
    assert _guarded(work) == before
