"""End to end through real DVC and papermill: the smoke profile in temporary copies of the repo.

* ``dvc repro`` runs every stage; a second ``dvc repro`` runs none;
* changing one train parameter re-runs train and the stages after it, and no others;
* a second clean run in another clean copy gives byte-identical outputs, every one of them
  (data, model bundle, metrics, plots, figures, executed notebooks, HTML), so dvc.lock is equal;
* a stage's dependencies are the code it executes: editing the flights history code makes the
  study stages stale and not tune/train/evaluate; editing the model code leaves the data stages
  up to date; editing serving code or the plot declarations makes nothing stale;
* a tampered model bundle stops the stages that load it, naming the file;
* a failing cell fails its stage, shows the error at the top of the executed notebook, writes
  nothing else and leaves the last good outputs in place.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tabstudy import reporting
from tabstudy.pipeline.stages import COMMANDS, STAGES

from .conftest import DELETE, METRICS_WIDTH, copy_repo, metrics_show_widths
from .conftest import output_digests as _outputs
from .conftest import run_in as _run
from .conftest import set_params as _set_params
from .conftest import stages_ran as _ran
from .conftest import stale_stages as _stale

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ALWAYS_CHANGED = {s.name for s in (*STAGES, *COMMANDS) if s.always_changed}


def smoke_copy(dest: Path) -> Path:
    work = copy_repo(dest)
    _run(work, "git", "init", "-q")
    _set_params(work, **{"profile": "smoke"})
    return work


@pytest.fixture(scope="module")
def first_run(smoke_run) -> tuple[Path, str]:
    """The session's smoke run (shared with the serving tests, which copy it first)."""
    return smoke_run


def test_repro_then_noop(first_run) -> None:
    work, log = first_run
    ran = _ran(log)
    assert ran[:5] == ["source", "ingest", "validate", "eda", "features"], ran
    assert ran[-1] == "index", ran
    assert sorted(ran) == sorted(s.name for s in (*STAGES, *COMMANDS))
    assert ran.index("champion") < ran.index("evaluate")
    assert ran.index("materialize") > ran.index("train")
    index = (work / "reports" / "index.html").read_text()
    for href in re.findall(r'href="([^"]+)"', index):
        if href.startswith("http"):  # the service's docs, on this machine only
            assert href.startswith("http://127.0.0.1:"), href
            continue
        assert (work / "reports" / href).exists(), href
    assert "model_card.html" in index and "08-evaluate.html" in index
    tune_report = (work / "reports" / "html" / "06-tune.html").read_text()
    assert "oneDNN custom operations" not in tune_report  # start-up noise tidied on success too
    again = _run(work, "dvc", "repro")
    # the source stage stamps the data files and the champion stage reads the registry's git
    # tags, so both always run; their outputs are the same, so nothing after them does
    assert sorted(_ran(again.stdout)) == sorted(ALWAYS_CHANGED), again.stdout
    status = _run(work, "dvc", "status")
    assert sorted(re.findall(r"^(\w+):", status.stdout, re.M)) == sorted(ALWAYS_CHANGED)
    assert status.stdout.count("always changed") == len(ALWAYS_CHANGED), status.stdout


def test_report_pages_are_clean(first_run) -> None:
    """Every stage page: its own title, a link back to the index, no script from the network,
    no raw object dump, no raw pandas output (:func:`tabstudy.reporting.page_problems`, the
    model card and the index too); executed notebooks carry no machine path."""
    work, _ = first_run
    pages = sorted((work / "reports" / "html").glob("*.html"))
    assert len(pages) == 11
    titles = set()
    for page in pages:
        html = page.read_text()
        title = re.search(r"<title>([^<]*)</title>", html).group(1)
        assert title != "Notebook" and title.startswith(page.stem[:2]), (page.name, title)
        titles.add(title)
        assert 'href="../index.html"' in html, page.name
        assert "<script" not in html, page.name
        for dump in ("StageConfig(", "Blessing(", "TrainConfig(", "{&#x27;"):
            assert dump not in html, (page.name, dump)
        assert len(html) < 1_000_000, page.name
    assert len(titles) == 11
    for page in (*pages, work / "reports" / "model_card.html", work / "reports" / "index.html"):
        # no Series footer, elided table, cut cell or empty heading
        assert reporting.page_problems(page.read_text()) == [], page.name
    for nb in (work / "reports" / "notebooks").glob("*.ipynb"):
        text = nb.read_text()
        assert str(work) not in text and "input_path" not in text, nb.name
    metrics = json.loads(_run(work, "dvc", "metrics", "show", "--json").stdout)
    assert len(json.dumps(metrics)) < 20_000  # per-group tables live in plots, not metrics


def test_metrics_and_plots_commands_work(first_run) -> None:
    """`dvc metrics show` lists the headline numbers in one table that fits 120 columns; every
    number stays in the detail files, which `dvc metrics show FILE` shows too."""
    work, _ = first_run
    widths = metrics_show_widths(work)
    assert max(widths.values()) <= METRICS_WIDTH, widths
    shown = json.loads(_run(work, "dvc", "metrics", "show", "--json").stdout)
    headline = {p: d["data"] for p, d in shown[""]["data"].items()}
    evaluate = headline["reports/metrics/evaluate.json"]
    detail = json.loads((work / "reports/metrics/detail/evaluate.json").read_text())
    assert evaluate["roc_auc"] == detail["test"]["model"]["roc_auc"]
    assert [evaluate["auc_lo"], evaluate["auc_hi"]] == detail["roc_auc_ci95"]["model"]
    assert evaluate["decision"] == detail["promotion"]["decision"]
    assert set(headline["reports/metrics/validate.json"]) == {"fail", "warn"}
    train = _run(work, "dvc", "metrics", "show", "--json", "reports/metrics/detail/train.json")
    assert "weights_sha256" in train.stdout
    out = _run(work, "dvc", "plots", "show", "--out", str(work / "plots_html"))
    assert (work / "plots_html" / "index.html").exists(), out.stdout


def test_two_clean_runs_are_byte_identical(first_run, tmp_path_factory) -> None:
    work1, _ = first_run
    work2 = smoke_copy(tmp_path_factory.mktemp("run2") / "repo")
    shutil.copy(work2 / "params.yaml", work1 / "params.yaml")  # in case a test changed them
    _run(work1, "dvc", "repro")
    _run(work2, "dvc", "repro")
    out1, out2 = _outputs(work1), _outputs(work2)
    assert len([k for k in out1 if k.startswith("reports/metrics/detail/")]) == 11
    assert len([k for k in out1 if re.fullmatch(r"reports/metrics/\w+\.json", k)]) == 7
    assert (
        "models/bundle/model.keras" in out1 and "models/bundle/saved_model/saved_model.pb" in out1
    )
    assert sorted(out1) == sorted(out2)
    differ = [k for k in out1 if out1[k] != out2[k]]
    assert differ == [], f"outputs differ between two clean runs: {differ}"
    lock1 = yaml.safe_load((work1 / "dvc.lock").read_text())
    lock2 = yaml.safe_load((work2 / "dvc.lock").read_text())
    assert lock1 == lock2


def test_stage_deps_are_the_code_it_executes(first_run, tmp_path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(first_run[0], work, symlinks=True)
    _run(work, "dvc", "repro")  # the earlier tests may have left params changed
    assert _stale(work) == set()
    plots = work / "src" / "tabstudy" / "pipeline" / "plots.py"
    plots.write_text(plots.read_text() + "\n# a new plot declaration would go here\n")
    assert _stale(work) == set(), "editing the plot declarations made a stage stale"
    # a file dropped into external/ is not the flights study's data
    (work / "external" / "my_table.csv").write_text("a,b\n1,2\n")
    assert _stale(work) == set(), "a file in external/ made a stage stale"
    # serving code is no stage's dependency: every module under serving/ edited, none stale
    for module in sorted((work / "src" / "tabstudy" / "serving").rglob("*.py")):
        module.write_text(module.read_text() + "\n# a serving change\n")
    assert _stale(work) == set(), "editing serving/ made a stage stale"
    # model code: the data stages stay up to date; the stages that build or load a model do not
    model = work / "src" / "tabstudy" / "models" / "keras_model.py"
    model.write_text(model.read_text() + "\n# a model change\n")
    stale = _stale(work)
    assert not stale & {"ingest", "validate", "eda", "features", "baselines"}, stale
    assert {"tune", "train", "evaluate", "backtest"} <= stale, stale
    model.write_text(model.read_text().removesuffix("\n# a model change\n"))
    assert _stale(work) == set()
    history = work / "src" / "tabstudy" / "studies" / "flights" / "history.py"
    history.write_text(history.read_text() + "\n# smoothing tweak\n")
    assert _stale(work) == {"ingest", "validate", "eda", "features", "materialize"}


def test_every_params_edit_makes_exactly_its_stages_stale(first_run, tmp_path) -> None:
    """Adding, changing and removing a profile override, and changing a slice: each time
    `dvc status` names the stages that read the edited section, with no regeneration step."""
    work = tmp_path / "repo"
    shutil.copytree(first_run[0], work, symlinks=True)
    _run(work, "dvc", "repro")
    original = (work / "params.yaml").read_text()
    edits = [
        ({"tune.profiles.smoke.min_layers": 1}, {"tune"}),  # add an override key
        ({"baselines.profiles.smoke.hgb_trials": 3}, {"baselines", "backtest"}),  # change one
        ({"train.profiles.smoke.patience": DELETE}, {"train"}),  # remove one
        ({"data.profiles.smoke": DELETE}, {"ingest", "validate", "eda", "features", "materialize"}),
        ({"features.slices": ["carrier"]}, {"eda", "features", "materialize"}),  # a slice
    ]
    for change, stages in edits:
        _set_params(work, **change)
        assert _stale(work) == stages, change
        (work / "params.yaml").write_text(original)
    assert _stale(work) == set()


def test_a_tampered_bundle_is_refused_naming_the_file(first_run, tmp_path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(first_run[0], work, symlinks=True)
    spec = work / "models" / "bundle" / "feature_spec.json"
    spec.write_text(spec.read_text().replace('"carrier"', '"carrier2"', 1))
    out = _run(work, "python", "-m", "tabstudy.pipeline.runner", "evaluate", check=False)
    assert out.returncode != 0
    assert "BundleError" in out.stderr and "feature_spec.json" in out.stderr
    assert "does not match" in out.stderr


def test_failing_cell_fails_stage_and_keeps_last_outputs(first_run, tmp_path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(first_run[0], work, symlinks=True)
    nb_path = work / "notebooks" / "04-features.ipynb"
    nb = json.loads(nb_path.read_text())
    # break the last code cell, after the stage's run wrote the processed splits
    last = max(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][last]["source"] = ["raise RuntimeError('deliberately broken cell')\n"]
    nb_path.write_text(json.dumps(nb))
    processed = work / "data" / "processed"
    before = {p.name: p.read_bytes() for p in processed.iterdir()}
    out = _run(work, "python", "-m", "tabstudy", "run", "features", check=False)
    assert out.returncode != 0
    assert "deliberately broken cell" in out.stderr
    assert {p.name: p.read_bytes() for p in processed.iterdir()} == before, "outputs untouched"
    executed = json.loads((work / "reports" / "notebooks" / "04-features.ipynb").read_text())
    banner = "".join(executed["cells"][0]["source"])
    assert "An Exception was encountered" in banner
    assert (
        "deliberately broken cell" in (work / "reports" / "html" / "04-features.html").read_text()
    )
    assert not (work / ".staging" / "features").exists()
    # through DVC too: non-zero exit, the last good outputs (those dvc.lock records) stay
    dvc = _run(work, "dvc", "repro", "features", check=False)
    assert dvc.returncode != 0
    assert {p.name: p.read_bytes() for p in processed.iterdir()} == before
    assert (work / "reports" / "metrics" / "detail" / "features.json").exists()
