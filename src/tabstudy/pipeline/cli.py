"""The pipeline's command line (``python -m tabstudy.pipeline ...``, or ``tabstudy ...``)::

run STAGE            execute one stage (a notebook with papermill, or the index page)
index                write reports/index.html
dvc-yaml [--check]   print dvc.yaml generated from the stage registry (or check it is current)
refresh-notebooks    re-execute every notebook under the smoke profile in a scratch work dir
                     and store the outputs in notebooks/ as nbval's reference
sync-parameters      rewrite each notebook's parameters cell from params.yaml
"""

from __future__ import annotations

import argparse
import sys

from tabstudy import config, paths


def _run(stage: str) -> int:
    from tabstudy.pipeline import index, runner
    from tabstudy.pipeline.stages import INDEX

    if stage == INDEX.name:
        return index.write_index()
    return runner.main([stage])


def _dvc_yaml(check: bool) -> int:
    from tabstudy.pipeline.dvcgen import dvc_yaml

    text = dvc_yaml()
    if not check:
        sys.stdout.write(text)
        return 0
    current = (paths.root() / "dvc.yaml").read_text(encoding="utf-8")
    if current != text:
        print("dvc.yaml is out of date: run `make dvc-yaml`", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; return the exit code."""
    parser = argparse.ArgumentParser(prog="tabstudy", description="Run and maintain the study.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one stage")
    run.add_argument("stage")
    sub.add_parser("index", help="write reports/index.html")
    gen = sub.add_parser("dvc-yaml", help="print dvc.yaml generated from the stage registry")
    gen.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is out of date")
    sub.add_parser("refresh-notebooks", help="store smoke-profile outputs in notebooks/ for nbval")
    sub.add_parser("sync-parameters", help="rewrite notebook parameters cells from params.yaml")
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args.stage)
    if args.command == "index":
        return _run("index")
    if args.command == "dvc-yaml":
        return _dvc_yaml(args.check)
    from tabstudy.pipeline import notebooks

    if args.command == "sync-parameters":
        for name in notebooks.sync_parameters():
            print(f"updated parameters of {name}")
        return 0
    notebooks.refresh_notebooks()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
