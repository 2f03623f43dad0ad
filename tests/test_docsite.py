"""The documentation's own logic, on small synthetic inputs: the README's findings block
(generated from a run's JSON files, rewritten between its markers only, a missing file named),
the offline link check, and the site's assembly (missing reports named, the reports page, the
notebooks copied without their reference note)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tabstudy import cli
from tabstudy.docsite import build, links, readme

NAMES = {"model": "Keras", "logreg": "logistic regression", "hgb": "HistGB",
         "majority": "majority class"}  # fmt: skip


def _write(root: Path, rel: str, obj: object) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """The files the findings block reads, as a tiny run would write them."""
    root = tmp_path / "reports"
    scores = {"model": 0.71, "logreg": 0.70, "hgb": 0.72, "majority": 0.5}
    _write(root, readme.EVALUATE, {
        "test": {m: {"roc_auc": a, "pr_auc": a - 0.3, "brier": 0.2, "log_loss": 0.5}
                 for m, a in scores.items()},
        "roc_auc_ci95": {m: [a - 0.01, a + 0.01] for m, a in scores.items()},
        "blessing": {"blessed": True, "roc_auc": 0.71, "min_roc_auc": 0.65, "max_gap": 0.02,
                     "best_baseline": "hgb", "best_baseline_roc_auc": 0.72, "reasons": []},
        "promotion": {"decision": "promote"},
    })  # fmt: skip
    _write(root, readme.FEATURES, {"splits": {"test": {
        "first_date": "2013-11-01", "last_date": "2013-12-31", "rows": 1234,
        "positive_rate": 0.25}}})  # fmt: skip
    _write(root, readme.EDA, {"rows": 5000, "positive_rate": 0.2})
    _write(root, readme.INGEST, {"profile": "smoke"})
    _write(root, readme.BACKTEST, {
        "applicable": True, "folds": 2,
        "roc_auc_mean": {"keras": 0.69, "logreg": 0.695, "hgb": 0.68},
        "delay_propagation_gain": {"keras": 0.02, "logreg": 0.01},
        "policy_roc_auc_mean": {"never": 0.70, "sliding": 0.72, "expanding": 0.73},
        "policy_trainings": {"never": 1, "sliding": 9, "expanding": 9},
    })  # fmt: skip
    _write(root, readme.MONITOR, {
        "windows": 9, "first_window": "2013-11-01", "feature_drift_windows": 3,
        "first_feature_drift": "2013-11-08", "first_prediction_drift": None,
        "first_performance_alert": "2013-11-15", "labelled_windows": 7,
        "max_abs_estimation_error": 0.0512,
    })  # fmt: skip
    return root


def test_the_block_is_generated_from_the_numbers(reports: Path) -> None:
    block = readme.render_block(reports, NAMES)
    lines = block.splitlines()
    assert lines[0] == readme.START and lines[-1] == readme.END
    assert (
        "Profile `smoke`; test window 2013-11-01 to 2013-12-31: 1,234 rows, 25.0% positive" in block
    )
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| model")]
    assert [r.split(" | ")[0] for r in rows] == ["| HistGB", "| Keras", "| logistic regression",
                                                 "| majority class"]  # fmt: skip
    assert "| Keras | **0.710** [0.700, 0.720] | 0.410 | 0.200 |" in rows
    sentences = [line for line in lines if line.startswith("- ")]
    assert len(sentences) == 4
    assert "within 0.020 of each other (0.700 to 0.720; best: HistGB)" in sentences[0]
    assert "all overlap; the majority class scores 0.500." in sentences[0]
    assert sentences[1].startswith(
        "- Keras is blessed: its test ROC AUC 0.710 reaches the floor 0.65"
    )
    assert "logistic regression 0.6950, Keras 0.6900, HistGB 0.6800" in sentences[2]
    assert "add +0.0100 to +0.0200" in sentences[2]
    assert (
        "`expanding` has the best mean monthly ROC AUC, 0.7300, +0.0300 over never" in sentences[2]
    )
    assert (
        "feature drift in 3 of them, first 2013-11-08, a performance alert first 2013-11-15"
        in sentences[3]
    )
    assert "prediction drift" not in sentences[3] and "by up to 0.051." in sentences[3]
    assert readme.render_block(reports, NAMES) == block  # equal reports, equal bytes


def test_a_refusal_and_a_study_without_time_are_said(reports: Path) -> None:
    blessing = {"blessed": False, "best_baseline": "hgb",
                "reasons": ["ROC AUC 0.6000 below the floor 0.6500"]}  # fmt: skip
    assert readme.blessing_sentence(blessing, NAMES) == (
        "Keras is not blessed: ROC AUC 0.6000 below the floor 0.6500."
    )
    assert "does not apply" in readme.backtest_sentence({"applicable": False}, NAMES)


@pytest.mark.parametrize("rel", readme.SOURCES)
def test_a_missing_file_is_named(reports: Path, rel: str) -> None:
    (reports / rel).unlink()
    with pytest.raises(readme.MissingReport) as err:
        readme.render_block(reports, NAMES)
    assert str(reports / rel) in str(err.value) and "make repro" in str(err.value)


def test_a_file_that_is_not_json_is_named(reports: Path) -> None:
    (reports / readme.EVALUATE).write_text("{not json", encoding="utf-8")
    with pytest.raises(readme.MissingReport, match=r"evaluate\.json: not valid JSON"):
        readme.render_block(reports, NAMES)


def test_only_the_block_between_the_markers_is_rewritten(reports: Path, tmp_path: Path) -> None:
    target = tmp_path / "README.md"
    target.write_text(f"# Title\n\nkept\n{readme.START}\nstale words\n{readme.END}\n\ntail\n")
    assert readme.update_readme(target, reports) is True
    text = target.read_text()
    assert text.startswith("# Title\n\nkept\n<!-- findings:start -->\n")
    assert text.endswith("<!-- findings:end -->\n\ntail\n") and "stale words" not in text
    assert readme.update_readme(target, reports) is False  # unchanged bytes: not rewritten
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


@pytest.mark.parametrize(
    "text", ["no markers", f"{readme.END}\n{readme.START}", f"{readme.START}\n{readme.START}"]
)
def test_markers_missing_or_out_of_order_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"README\.md: needs one"):
        readme.replace_block(text, "block")


def test_the_command_names_a_missing_report(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TABSTUDY_WORKDIR", str(tmp_path))
    (tmp_path / "README.md").write_text(f"{readme.START}\n{readme.END}\n")
    assert cli.main(["docs", "--readme", "--reports", str(tmp_path / "nothing")]) == 2
    assert "evaluate.json: missing" in capsys.readouterr().err
    assert cli.main(["docs", "--reports", str(tmp_path / "nothing")]) == 2
    assert "no reports folder" in capsys.readouterr().err


def _page(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")


def test_the_link_check_resolves_files_and_anchors(tmp_path: Path) -> None:
    site = tmp_path / "html"
    _page(site / "index.html", '<a id="top" href="#top">t</a><a href="sub/b.html#x">b</a>'
          '<a href="sub/b.html#gone">gone</a><a href="missing.html">m</a>'
          '<a href="https://example.org/page">ext</a><a href="mailto:a@b.c">mail</a>'
          '<script src="https://cdn.example.org/x.js"></script>'
          '<link rel="stylesheet" href="_static/s.css?v=1"><img src="sub/">')  # fmt: skip
    _page(site / "sub" / "b.html", '<h2 id="x">x</h2><a href="../index.html#top">up</a>')
    _page(site / "sub" / "index.html", "")
    _page(site / "_static" / "macros.html", '<a href="{{ pathto(x) }}">not a page</a>')
    (site / "_static" / "s.css").write_text("")
    report = links.check_site(site)
    assert report.pages == 3 and report.checked == 7
    assert report.broken == [
        "index.html: sub/b.html#gone (no id 'gone' on sub/b.html)",
        "index.html: missing.html (no such file)",
    ]
    assert report.external == ["https://cdn.example.org/x.js", "https://example.org/page"]
    assert report.online_assets == ["index.html: https://cdn.example.org/x.js"]
    assert not report.ok


def test_missing_reports_are_named_with_the_command_that_makes_them(tmp_path: Path) -> None:
    with pytest.raises(build.ReportsMissing, match="no reports folder; run `make repro`"):
        build.executed_notebooks(tmp_path / "reports")
    (tmp_path / "reports").mkdir()
    with pytest.raises(build.ReportsMissing, match=r"notebooks: no executed notebooks"):
        build.executed_notebooks(tmp_path / "reports")
    _notebook(tmp_path / "reports" / "notebooks" / "01-ingest.ipynb", "# 01 · Ingest")
    with pytest.raises(build.ReportsMissing, match=r"model_card.md: no model card"):
        build.executed_notebooks(tmp_path / "reports")


def _notebook(path: Path, title: str, note: bool = False) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [f"{title}\n", "\n", "text"]}]
    if note:
        cells.insert(0, {"cell_type": "markdown", "metadata": {"tags": ["reference-note"]},
                         "source": ["smoke outputs"]})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip


def test_the_reports_page_holds_every_notebook_and_the_card(tmp_path: Path) -> None:
    nbs = [tmp_path / "01-ingest.ipynb", tmp_path / "02-validate.ipynb"]
    _notebook(nbs[0], "# 01 · Ingest")
    _notebook(nbs[1], "# 02 · Validate")
    page = build.reports_page(nbs, "FINDINGS")
    assert page.startswith("# Reports of the run\n") and "\nFINDINGS\n" in page
    assert "- 01 · Ingest\n- 02 · Validate" in page
    toctree = page.split("```{toctree}")[1]
    assert toctree.split("\n\n")[1].split("\n")[:3] == [
        "notebooks/01-ingest",
        "notebooks/02-validate",
        "model_card",
    ]


def test_notebooks_are_copied_without_their_reference_note(tmp_path: Path) -> None:
    _notebook(tmp_path / "a.ipynb", "# 03 · EDA", note=True)
    build.copy_notebook(tmp_path / "a.ipynb", tmp_path / "b.ipynb")
    cells = json.loads((tmp_path / "b.ipynb").read_text())["cells"]
    assert len(cells) == 1 and build.notebook_title(tmp_path / "b.ipynb") == "03 · EDA"


def test_warnings_name_the_files_they_came_from(tmp_path: Path) -> None:
    src, docs, reports = tmp_path / "out" / "src", tmp_path / "docs", tmp_path / "reports"
    line = f"{src}/reports/notebooks/03-eda.ipynb:4: WARNING: x; {src}/serving.md:9: WARNING: y"
    mapped = build.original_paths(line, src, docs, reports)
    assert f"{reports}/notebooks/03-eda.ipynb:4" in mapped and f"{docs}/serving.md:9" in mapped
