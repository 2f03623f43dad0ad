"""The documentation command: the offline site and the README's generated findings."""

from __future__ import annotations

from pathlib import Path

import click

FOLDER = click.Path(path_type=Path, file_okay=False)


@click.command(
    epilog="""\b
Examples:
  tabstudy docs                      # make docs: build/docs/html from docs/ and reports/
  tabstudy docs --reports /tmp/run/reports --out /tmp/site
  tabstudy docs --readme             # README.md's findings from reports/ (make repro)"""
)
@click.option("--reports", type=FOLDER, help="The run's reports folder (default: reports/).")
@click.option(
    "--out", type=FOLDER,
    help="Build folder (default: build/docs): html/, src/, doctrees/, external-links.txt.",
)  # fmt: skip
@click.option(
    "--readme", is_flag=True,
    help="Only rewrite README.md's findings block from the reports (no site).",
)  # fmt: skip
def docs(reports: Path | None, out: Path | None, readme: bool) -> int:
    """Build the documentation site offline: the docs/ pages, every stage's executed notebook
    and the model card, with warnings as errors, then check every local link. Exit 1: a
    warning or a broken link; 2: the reports are missing (named)."""
    if readme:
        from tabstudy.docsite import readme as findings

        return findings.main(reports)
    from tabstudy.docsite import build

    return build.main(reports, out)


COMMANDS = (docs,)
