"""``tabstudy``: the project's one command-line tool (click; a console script, and
``python -m tabstudy``).

Each command declares its options here and calls one typed function of the module that does
the work (:mod:`tabstudy.pipeline.serve`, :mod:`tabstudy.pipeline.registry`, ...), imported when
the command runs, so ``tabstudy --help`` starts in a fraction of a second. The DVC stages do not
go through this tool: ``dvc.yaml`` runs the stage modules themselves, so a stage depends only
on the code it executes.

Shell completion comes with click: ``eval "$(_TABSTUDY_COMPLETE=bash_source tabstudy)"`` (or
``zsh_source``, ``fish_source``).
"""

from __future__ import annotations

import sys

import click

from tabstudy import config
from tabstudy.cli import docs, service, study, training

__all__ = ["main", "run", "tabstudy"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def tabstudy() -> None:
    """Run, serve and maintain the study. Every command has --help with examples; the Makefile's
    targets call these commands."""


for command in (*study.COMMANDS, *training.COMMANDS, *service.COMMANDS, *docs.COMMANDS):
    tabstudy.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run ``tabstudy`` with ``argv`` (default: the process's arguments); return the exit
    status. A bad ``params.yaml`` prints one line naming the key and exits 2."""
    try:
        code = tabstudy.main(args=argv, prog_name="tabstudy", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


def run() -> None:
    """The console script: exit with :func:`main`'s status."""
    sys.exit(main())
