"""Commands that run and maintain the study: stages, the report index, dvc.yaml, the notebooks,
the online store, data contracts and example data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tabstudy import paths


@click.command(
    epilog="""\b
Examples:
  tabstudy run features     # one stage, as DVC runs it (papermill, transactional)
  dvc repro                 # the whole study, only what changed (make repro)"""
)
@click.argument("stage")
def run(stage: str) -> int:
    """Run one stage (a notebook through papermill, or the index page)."""
    from tabstudy.pipeline import index, runner

    if stage == "index":
        return index.write_index()
    return runner.main([stage])


@click.command()
def index() -> int:
    """Write reports/index.html from the stage reports, the model card and the metrics."""
    from tabstudy.pipeline import index as index_page

    return index_page.write_index()


@click.command("dvc-yaml", epilog="Example:\n\n  tabstudy dvc-yaml > dvc.yaml   # make dvc-yaml")
@click.option("--check", is_flag=True, help="Exit 1 if dvc.yaml is out of date (print nothing).")
def dvc_yaml(check: bool) -> int:
    """Print dvc.yaml generated from the stage registry (each stage's deps: the code it runs)."""
    from tabstudy.pipeline.dvcgen import dvc_yaml as generate

    text = generate()
    if not check:
        sys.stdout.write(text)
        return 0
    if (paths.root() / "dvc.yaml").read_text(encoding="utf-8") != text:
        print("dvc.yaml is out of date: run `make dvc-yaml`", file=sys.stderr)
        return 1
    return 0


@click.command("refresh-notebooks")
def refresh_notebooks() -> int:
    """Re-execute every notebook under the smoke profile in a scratch work dir and store the
    outputs in notebooks/ as nbval's reference (make notebooks)."""
    from tabstudy.pipeline import notebooks

    notebooks.refresh_notebooks()
    return 0


@click.command("sync-parameters")
def sync_parameters() -> int:
    """Rewrite each notebook's parameters cell from params.yaml."""
    from tabstudy.pipeline import notebooks

    for name in notebooks.sync_parameters():
        print(f"updated parameters of {name}")
    return 0


@click.command()
def materialize() -> int:
    """Build the online store (data/online/store.sqlite) for the workspace bundle, as the
    materialize stage does."""
    from tabstudy.pipeline import materialize as stage

    return stage.main()


@click.group()
def contract() -> None:
    """Data contracts (contracts/*.yaml)."""


@contract.command(
    epilog="""\b
Example:
  tabstudy contract infer external/my_table.csv --output contracts/my_table.yaml"""
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", help="Table name (default: the file name without its suffix).")
@click.option(
    "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here, not stdout."
)
@click.option("--delimiter", default=",", show_default=True, help="CSV field separator.")
@click.option(
    "--max-categories", type=click.IntRange(min=1),
    help="A text column with at most this many values is categorical (default: 50).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def infer(
    file: Path, name: str | None, output: Path | None, delimiter: str, max_categories: int | None,
    force: bool,
) -> int:  # fmt: skip
    """Draft a contract from a CSV or Parquet file, for a person to review."""
    from tabstudy.data import contract as contracts

    return contracts.infer_main(file, name, output, delimiter, max_categories, force)


@click.command(
    "example-data",
    epilog="Example:\n\n  tabstudy example-data breast_cancer external/breast_cancer.csv",
)
@click.argument("name")
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
def example_data(name: str, output: Path) -> int:
    """Write an example table NAME (breast_cancer, ...) to OUTPUT (.csv or .parquet)."""
    from tabstudy.data import examples

    return examples.main(name, output)


COMMANDS = (run, index, dvc_yaml, refresh_notebooks, sync_parameters, materialize, contract,
            example_data)  # fmt: skip
