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

from tabstudy import reporting
from tabstudy.pipeline.stages import COMMANDS, STAGES

from .conftest import (
    FLIGHTS_WORDS,
    METRICS_WIDTH,
    copy_repo,
    metrics_show_widths,
    output_digests,
    run_in,
    set_params,
    stages_ran,
    stale_stages,
)
from .test_serving import _start, _stop

pytestmark = pytest.mark.slow
ALL_STAGES = [s.name for s in (*STAGES, *COMMANDS)]
STAGE_PAGES = {s.name: Path(s.notebook).stem for s in STAGES if s.notebook}
GUARDED = ("models", "data/processed", "reports/metrics", "reports/model_card.html")


@pytest.fixture(scope="module")
def byo(tmp_path_factory) -> tuple[Path, str]:
    work = copy_repo(tmp_path_factory.mktemp("byo") / "repo")
    run_in(work, "git", "init", "-q")
    run_in(work, "tabstudy", "example-data", "breast_cancer", "external/breast_cancer.csv")
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
    split = _json(work, "reports/metrics/detail/features.json")["splits"]
    assert {k: v["rows"] for k, v in split.items()} == {"train": 397, "valid": 86, "test": 86}
    assert {round(v["positive_rate"], 2) for v in split.values()} == {0.37}  # stratified
    ingest = _json(work, "reports/metrics/detail/ingest.json")
    digest = hashlib.sha256((work / "external" / "breast_cancer.csv").read_bytes()).hexdigest()
    assert ingest["source"] == "file" and ingest["sha256"] == digest
    report = _json(work, "reports/anomalies.json")
    assert report["contract"] == "breast_cancer" and report["fail"] == 0 and report["rules"] > 90


def test_example_model_is_evaluated_and_carded(byo) -> None:
    work, _ = byo
    evaluate = _json(work, "reports/metrics/detail/evaluate.json")
    auc = evaluate["test"]["model"]["roc_auc"]
    lo, hi = evaluate["roc_auc_ci95"]["model"]
    assert 0.9 <= lo <= auc <= hi and evaluate["blessing"]["blessed"]
    slices = pd.read_csv(work / "reports" / "plots" / "evaluate" / "slices.csv")
    assert set(slices["slice"]) == {"mean_radius"} and len(slices) == 4
    card = (work / "reports" / "model_card.md").read_text()
    assert "Is a breast mass malignant?" in card and "mean_concave_points" in card
    assert "split at random (stratified by the target)" in card
    eda = _json(work, "reports/metrics/detail/eda.json")
    assert eda == {"positive_rate": 212 / 569, "rows": 569}
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


def test_metrics_show_fits_120_columns(byo) -> None:
    """`dvc metrics show` lists the headline files only (one table, no line over 120 columns);
    the detail files keep every number."""
    work, _ = byo
    widths = metrics_show_widths(work)
    assert max(widths.values()) <= METRICS_WIDTH, widths
    shown = json.loads(run_in(work, "dvc", "metrics", "show", "--json").stdout)[""]["data"]
    evaluate = shown["reports/metrics/evaluate.json"]["data"]
    detail = _json(work, "reports/metrics/detail/evaluate.json")
    assert evaluate["roc_auc"] == detail["test"]["model"]["roc_auc"]
    assert evaluate["decision"] == detail["promotion"]["decision"]
    assert "reports/metrics/detail/features.json" not in shown


def test_a_file_dropped_into_external_leaves_the_study_up_to_date(byo) -> None:
    """Ingest depends on the file `data.path` names (stamped by the source stage), not on all
    of external/: another file there, even an unreadable one, stales nothing, while a changed
    byte in the configured file makes ingest stale once the source stage stamped it."""
    work, _ = byo
    run_in(work, "dvc", "repro")
    trying = work / "external" / "trying" / "breast_cancer.csv"
    trying.parent.mkdir(parents=True, exist_ok=True)
    _csv(lambda f: f.to_csv(index=False)[:-25])(work, trying)
    (work / "external" / "notes.txt").write_text("where the table came from\n")
    assert stale_stages(work) == set()
    configured = work / "external" / "breast_cancer.csv"
    good = configured.read_bytes()
    configured.write_bytes(good.replace(b"\n", b"\r\n"))  # the same table, other bytes
    try:
        run_in(work, "dvc", "repro", "source")
        assert stale_stages(work) == {"ingest"}
    finally:
        configured.write_bytes(good)
        run_in(work, "dvc", "repro", "source")
    assert stale_stages(work) == set()


def _words(text: str) -> set[str]:
    return {m.group(0).lower() for m in FLIGHTS_WORDS.finditer(text)}


def test_the_pages_speak_of_the_table_and_show_no_raw_output(byo) -> None:
    """Every page of the table study (stage pages, model card, index): no flights word in what a
    reader sees unless the table has such a column, no pandas footer, elided table, cut cell or
    empty heading; the EDA's plots are not an empty folder (DVC warns) and the materialize stage
    says why the store has no tables."""
    work, log = byo
    allowed = _words(" ".join(_good(work).columns).replace("_", " "))
    pages = [*sorted((work / "reports" / "html").glob("*.html")),
             work / "reports" / "model_card.html", work / "reports" / "index.html"]  # fmt: skip
    assert len(pages) == 13
    for page in pages:
        html = page.read_text()
        assert _words(reporting.visible_text(html)) <= allowed, page.name
        assert reporting.page_problems(html) == [], page.name
    assert any((work / "reports" / "plots" / "eda").iterdir())
    assert "No categorical column with at most" in (work / "reports/html/03-eda.html").read_text()
    assert "online store data/online/store.sqlite: no tables (a table study has no" in log, log


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
    # ... and the name mismatch never hides a real violation: every rule is still checked
    "renamed_text_in_numeric": (".csv", _frame(lambda f: _set(f, "mean_area", "large")),
                                "validate", ["column 'mean_area'", "rule 'type float'",
                                             "example: 'large'",
                                             "expects a table 'breast_cancer'"]),
}  # fmt: skip
RENAMED = {"renamed_file": "cancer_cases", "renamed_text_in_numeric": "cancer_cases"}


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
            if not k.startswith(("data/raw", "reports/metrics/detail/ingest"))
        } == {
            k: v
            for k, v in before.items()
            if not k.startswith(("data/raw", "reports/metrics/detail/ingest"))
        }


RECOVERY = {
    # kind of failure: (the new file, other params changed with it, the stage that fails)
    "unreadable_file": (_csv(lambda f: f.to_csv(index=False)[:-25]), {}, "ingest"),
    "hard_rule_broken": (_frame(lambda f: _set(f, "mean_area", "large")), {}, "validate"),
    # new rows that pass validate, and a slice the table lacks: EDA fails after ingest and
    # validate succeeded on the new file
    "later_stage": (_frame(lambda f: f.head(400)),
                    {"features.profiles.breast_cancer.slices": ["no_such_column"]}, "eda"),
}  # fmt: skip


def test_a_column_of_the_wrong_kind_stops_the_stage_naming_it(byo) -> None:
    """A numeric column named as the time column stops EDA (the first stage that reads it) with
    the column, an example value and the way on, not a pandas traceback; nothing is lost."""
    work, _ = byo
    run_in(work, "dvc", "repro")  # a bad case refused at validate left its own raw data
    params = (work / "params.yaml").read_text()
    before = _guarded(work)
    set_params(work, **{"features.profiles.breast_cancer.time_column": "mean_area"})
    try:
        out = run_in(work, "dvc", "repro", check=False)
    finally:
        (work / "params.yaml").write_text(params)
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "stage 'eda' FAILED" in log, log
    assert "the time column 'mean_area' holds numbers, not dates (e.g. row 0: " in log, log
    assert "features.time_column must name a column of dates" in log, log
    assert _guarded(work) == before


def _commit(work: Path) -> None:
    """Commit the workspace, so that `git checkout` has the last good params and lock."""
    for key, value in (("user.name", "tabstudy test"), ("user.email", "test@example.org")):
        run_in(work, "git", "config", key, value)
    run_in(work, "git", "add", "-A")
    run_in(work, "git", "commit", "-q", "--allow-empty", "-m", "the last good run")


@pytest.mark.parametrize("kind", list(RECOVERY))
def test_the_readmes_restore_brings_back_the_last_good_run_byte_for_byte(byo, kind) -> None:
    """After each kind of failure, exactly the README's recovery: `git checkout params.yaml`,
    then `make restore` (`git checkout dvc.lock` if it changed, `dvc checkout --force`). Every
    output (data, models, reports, the failed stage's page) is back as the committed dvc.lock
    records it, and `dvc status` names only the stages that always run."""
    work, _ = byo
    run_in(work, "dvc", "repro")  # a bad case refused at validate left its own raw data
    _commit(work)
    before, lock = output_digests(work), (work / "dvc.lock").read_text()
    write, changes, stage = RECOVERY[kind]
    new = work / "external" / "restore" / kind / "breast_cancer.csv"
    new.parent.mkdir(parents=True, exist_ok=True)
    write(work, new)
    set_params(work, **{"data.profiles.breast_cancer.path": str(new.relative_to(work)), **changes})
    out = run_in(work, "dvc", "repro", check=False)
    assert out.returncode != 0 and f"stage '{stage}' FAILED" in out.stderr, out.stderr
    failed = output_digests(work)
    page = f"reports/html/{STAGE_PAGES[stage]}.html"
    assert failed[page] != before[page], "the failed stage's page is published"
    if stage != "ingest":  # ingest succeeded: data/raw holds the new file
        assert failed["data/raw/breast_cancer.parquet"] != before["data/raw/breast_cancer.parquet"]
    plain = run_in(work, "dvc", "checkout", check=False)  # why the README says --force
    assert plain.returncode != 0 and "Use `--force`" in plain.stderr + plain.stdout, plain.stderr
    run_in(work, "git", "checkout", "params.yaml")
    run_in(work, "make", "restore")
    assert (work / "dvc.lock").read_text() == lock
    after = output_digests(work)
    assert sorted(after) == sorted(before)
    assert [k for k in before if after[k] != before[k]] == []
    assert stale_stages(work) == set()
