"""The one command line, ``tabstudy``: every command the issue lists, each with --help and
examples, exit statuses passed through, the Makefile calling it, completion from click."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tabstudy import cli

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {
    "run", "index", "dvc-yaml", "refresh-notebooks", "sync-parameters", "materialize",
    "contract", "example-data", "serve", "score", "rollout-report", "monitor", "registry",
    "retrain", "tune-distributed", "docs",
}  # fmt: skip


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out += _commands(command, (*prefix, name))
    return out


def test_every_command_is_there() -> None:
    assert set(cli.tabstudy.commands) == EXPECTED
    registry = cli.tabstudy.commands["registry"]
    assert isinstance(registry, click.Group)
    assert set(registry.commands) == {"list", "promote", "rollback", "challenger", "fetch",
                                      "resolve"}  # fmt: skip


@pytest.mark.parametrize("path", _commands(cli.tabstudy), ids=" ".join)
def test_every_command_has_help(path, capsys) -> None:
    assert cli.main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Usage: tabstudy {' '.join(path)}")
    command = cli.tabstudy
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help) > 20, path


def test_user_commands_show_examples(capsys) -> None:
    """The commands a person types show examples (the README's) in their help."""
    for path in (["serve"], ["score"], ["registry"], ["retrain"], ["tune-distributed"],
                 ["monitor"], ["rollout-report"], ["contract", "infer"], ["run"],
                 ["example-data"], ["dvc-yaml"], ["docs"]):  # fmt: skip
        assert cli.main([*path, "--help"]) == 0
        text = capsys.readouterr().out
        assert re.search(r"Examples?:", text) and "tabstudy " in text.split("Example")[1], path


def test_exit_statuses_pass_through(capsys) -> None:
    assert cli.main(["dvc-yaml", "--check"]) == 0  # dvc.yaml is current
    assert cli.main(["retrain", "--month", "December"]) == 2
    assert "December" in capsys.readouterr().err
    assert cli.main(["retrain", "--month", "2013-12", "--policy", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert cli.main(["example-data", "nope", "x.csv"]) == 2
    assert "nope" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "0"]) == 2  # click checks the range


def test_python_dash_m_and_the_console_script_are_the_same_tool() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for cmd in ([sys.executable, "-m", "tabstudy", "--help"],
                [str(Path(sys.executable).parent / "tabstudy"), "--help"]):  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        assert "tune-distributed" in out.stdout


def test_shell_completion_comes_from_click() -> None:
    script = Path(sys.executable).parent / "tabstudy"
    env = {**os.environ, "_TABSTUDY_COMPLETE": "bash_source"}
    out = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=True)
    assert "_tabstudy_completion" in out.stdout
    env = {**os.environ, "_TABSTUDY_COMPLETE": "bash_complete", "COMP_WORDS": "tabstudy regi",
           "COMP_CWORD": "1"}  # fmt: skip
    out = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=True)
    assert "registry" in out.stdout


def test_make_targets_call_the_cli() -> None:
    make = (REPO / "Makefile").read_text()
    assert not re.search(r"python -m tabstudy\.", make), "a make target bypasses `tabstudy`"
    for command in (
        "serve",
        "score",
        "registry promote",
        "rollout-report",
        "monitor",
        "retrain",
        "tune-distributed",
        "dvc-yaml",
        "refresh-notebooks",
        "example-data",
        "docs",
        "docs --readme",
    ):
        assert f"$(BIN)/tabstudy {command}" in make, command
    docker = (REPO / "Dockerfile").read_text()
    assert 'CMD ["tabstudy", "serve"' in docker
