"""``make docs`` in ``make test``: the documentation site built from the session's smoke run
(the scratch ``dvc repro`` the pipeline tests share), with Sphinx warnings as errors, every local
link and anchor resolved offline, nothing loaded from the network, and every executed notebook
and the model card rendered with their outputs in the site's navigation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tabstudy.docsite import build

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
BUILD_BUDGET_S = 60


def test_the_site_builds_offline_from_the_smoke_run(smoke_run, tmp_path: Path) -> None:
    work, _ = smoke_run
    site = build.build_site(reports=work / "reports", out=tmp_path / "site", docs=REPO / "docs")
    assert site.returncode == 0 and site.warnings == [], "\n".join(site.warnings)
    assert site.links.broken == [], "\n".join(site.links.broken)
    assert site.links.online_assets == [], site.links.online_assets
    assert site.ok and site.seconds < BUILD_BUDGET_S, site.seconds
    html = site.html
    for page in sorted((REPO / "docs").rglob("*.md")):  # every page of docs/
        assert (html / page.relative_to(REPO / "docs").with_suffix(".html")).is_file(), page
    notebooks = sorted((work / "reports" / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 11
    images = 0
    for nb in notebooks:  # rendered with the outputs the run produced, not re-executed
        text = (html / "reports" / "notebooks" / f"{nb.stem}.html").read_text(encoding="utf-8")
        assert "cell_output" in text and "nbval's reference" not in text, nb.name
        images += text.count('<img alt="')
    assert images > 0
    card = (html / "reports" / "model_card.html").read_text(encoding="utf-8")
    index = (html / "reports" / "index.html").read_text(encoding="utf-8")
    assert "Model card" in card and "What the run found" in index
    for page in (card, index):  # one navigation: the docs pages, every notebook, the card
        hrefs = set(re.findall(r'href="([^"#?]+)', page))
        assert {"../troubleshooting.html", "../decisions/index.html"} <= hrefs
        assert {f"notebooks/{nb.stem}.html" for nb in notebooks} <= hrefs
        assert {"model_card.html", "index.html"} & hrefs
