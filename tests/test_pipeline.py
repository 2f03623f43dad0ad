"""End to end through real DVC and papermill: the smoke profile in temporary copies of the repo.

* ``dvc repro`` runs every stage; a second ``dvc repro`` runs none;
* changing one train parameter re-runs train and the stages after it, and no others;
* a second clean run in another clean copy gives byte-identical outputs, every one of them
  (data, model bundle, metrics, plots, figures, executed notebooks, HTML), so dvc.lock is equal;
* a stage's dependencies are the code it executes: editing the flights history code makes the
  study stages stale and not tune/train/evaluate; editing the plot declarations makes nothing
  stale;
* a tampered model bundle stops the stages that load it, naming the file;
* a failing cell fails its stage, shows the error at the top of the executed notebook, writes
  nothing else and leaves the last good outputs in place.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tabstudy.pipeline.stages import COMMANDS, STAGES

from .conftest import DELETE, copy_repo
from .conftest import run_in as _run
from .conftest import set_params as _set_params
from .conftest import stages_ran as _ran

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


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
    assert ran[:4] == ["ingest", "validate", "eda", "features"] and ran[-1] == "index", ran
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
    # the champion stage reads the registry's git tags, so it always runs; its output is the
    # same, so nothing after it does
    assert _ran(again.stdout) == ["champion"], again.stdout
    status = _run(work, "dvc", "status")
    assert re.findall(r"^(\w+):", status.stdout, re.M) == ["champion"], status.stdout
    assert "always changed" in status.stdout


def test_report_pages_are_clean(first_run) -> None:
    """Every stage page: its own title, a link back to the index, no script from the network,
    no raw object dump; executed notebooks carry no machine path."""
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
    for nb in (work / "reports" / "notebooks").glob("*.ipynb"):
        text = nb.read_text()
        assert str(work) not in text and "input_path" not in text, nb.name
    metrics = json.loads(_run(work, "dvc", "metrics", "show", "--json").stdout)
    assert len(json.dumps(metrics)) < 20_000  # per-group tables live in plots, not metrics


def test_metrics_and_plots_commands_work(first_run) -> None:
    work, _ = first_run
    shown = json.loads(_run(work, "dvc", "metrics", "show", "--json").stdout)
    flat = json.dumps(shown)
    assert "roc_auc" in flat and "weights_sha256" in flat
    out = _run(work, "dvc", "plots", "show", "--out", str(work / "plots_html"))
    assert (work / "plots_html" / "index.html").exists(), out.stdout


def _outputs(work: Path) -> dict[str, str]:
    """SHA-256 of every file the pipeline wrote, but the wall times (``reports/timings``: not a
    DVC output, they differ by design)."""
    timings = work / "reports" / "timings"
    files = [p for d in ("data", "models", "reports") for p in (work / d).rglob("*")
             if p.is_file() and timings not in p.parents]  # fmt: skip
    return {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_two_clean_runs_are_byte_identical(first_run, tmp_path_factory) -> None:
    work1, _ = first_run
    work2 = smoke_copy(tmp_path_factory.mktemp("run2") / "repo")
    shutil.copy(work2 / "params.yaml", work1 / "params.yaml")  # in case a test changed them
    _run(work1, "dvc", "repro")
    _run(work2, "dvc", "repro")
    out1, out2 = _outputs(work1), _outputs(work2)
    assert len([k for k in out1 if k.startswith("reports/metrics/")]) == 11
    assert (
        "models/bundle/model.keras" in out1 and "models/bundle/saved_model/saved_model.pb" in out1
    )
    assert sorted(out1) == sorted(out2)
    differ = [k for k in out1 if out1[k] != out2[k]]
    assert differ == [], f"outputs differ between two clean runs: {differ}"
    lock1 = yaml.safe_load((work1 / "dvc.lock").read_text())
    lock2 = yaml.safe_load((work2 / "dvc.lock").read_text())
    assert lock1 == lock2


ALWAYS_CHANGED = {s.name for s in (*STAGES, *COMMANDS) if s.always_changed}


def _stale(work: Path) -> set[str]:
    """The stages ``dvc status`` names, less those that always run (the champion stage)."""
    status = json.loads(_run(work, "dvc", "status", "--json").stdout or "{}")
    return {name.split(":")[-1] for name in status} - ALWAYS_CHANGED


def test_stage_deps_are_the_code_it_executes(first_run, tmp_path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(first_run[0], work, symlinks=True)
    _run(work, "dvc", "repro")  # the earlier tests may have left params changed
    assert _stale(work) == set()
    plots = work / "src" / "tabstudy" / "pipeline" / "plots.py"
    plots.write_text(plots.read_text() + "\n# a new plot declaration would go here\n")
    assert _stale(work) == set(), "editing the plot declarations made a stage stale"
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
    # break the last cell, after the processed splits were written
    nb["cells"][-1]["source"] = ["raise RuntimeError('deliberately broken cell')\n"]
    nb_path.write_text(json.dumps(nb))
    processed = work / "data" / "processed"
    before = {p.name: p.read_bytes() for p in processed.iterdir()}
    out = _run(work, "python", "-m", "tabstudy.pipeline", "run", "features", check=False)
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
    assert (work / "reports" / "metrics" / "features.json").exists()
