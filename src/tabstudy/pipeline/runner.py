"""Run one notebook stage with papermill, transactionally (``python -m tabstudy.pipeline.runner
STAGE``; DVC calls it).

The runner resolves params.yaml once (:func:`tabstudy.config.resolve`: the active profile merged
in) and injects the stage's resolved values, so the executed notebook's parameters show exactly
what ran: exactly the names the notebook's parameters cell assigns (``tabstudy
sync-parameters`` writes that cell from the stage module's declared sections). Its writes go to
``.staging/<stage>`` (see :mod:`tabstudy.artifacts`) and move into place only when every cell
succeeded. On a failing cell the executed notebook, with papermill's
red error banner at the top, is published to ``reports/notebooks`` and its HTML to
``reports/html`` so the error is visible; nothing else of the stage is written, the outputs of the
last successful run stay in place (dvc.yaml marks every output ``persist``, so DVC does not delete
them first), and the command exits non-zero. After a success it prints the line the stage
left for the console (:func:`tabstudy.stages.base.transaction`; evaluate's champion decision).

The runner does not import the stage's module (nor TensorFlow): it reads the stage's notebook.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tabstudy import artifacts, config, console, paths, reporting
from tabstudy.stages import NAMES
from tabstudy.stages.base import console_file, notebook_name

KERNEL = "python3"
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
    console.ONE_LINE_ENV: "1",
    "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"),
}


def stage_parameters(stage: str, keys: Sequence[str], resolved: dict[str, Any]) -> dict[str, Any]:
    """The values papermill injects: ``keys`` (profile, seed and the sections the stage reads)
    from the resolved params (:func:`tabstudy.config.resolve`)."""
    missing = [k for k in keys if k not in resolved]
    if missing:
        raise config.ConfigError(
            f"{paths.rel(paths.params_file())}: missing key(s) {', '.join(missing)} "
            f"needed by stage '{stage}'"
        )
    return {k: resolved[k] for k in keys}


def parameter_names(notebook: Path) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns, in order: what it reads."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise KeyError(f"{paths.rel(notebook)}: expected one cell tagged 'parameters'")
    tree = ast.parse("".join(tagged[0]["source"]))
    return [t.id for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]  # fmt: skip


def kernel_env(root: Path, staging: Path | None) -> None:
    """Environment the kernel inherits: quiet TF, the work dir, the staging dir, no profile
    override (the values arrive resolved)."""
    os.environ.update(QUIET_ENV)
    os.environ[paths.WORKDIR_ENV] = str(root)
    os.environ.pop(config.PROFILE_ENV, None)
    if staging is None:
        os.environ.pop(artifacts.STAGING_ENV, None)
    else:
        os.environ[artifacts.STAGING_ENV] = str(staging)


def run_stage(name: str) -> int:
    """Execute one notebook stage transactionally; return the exit code (0 = success)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if name not in NAMES:
        raise KeyError(f"unknown stage {name!r}; notebook stages: {', '.join(NAMES)}")
    notebook = notebook_name(name)
    root = paths.root()
    keys = parameter_names(paths.notebooks_dir() / notebook)
    parameters = stage_parameters(name, keys, config.resolve(config.load_params()))
    staging = paths.staging_root() / name
    console_file(name).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    kernel_env(root, staging)
    executed = artifacts.target_path(paths.executed_notebook(notebook))
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        with process_stderr_to(paths.staging_root() / f"{name}.kernel.log"):
            pm.execute_notebook(
                paths.notebooks_dir() / notebook,
                executed,
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(root),
                progress_bar=False,
                log_output=False,
            )
        nb = reporting.clean_executed(executed)  # the same tidy-up as a failed run's report gets
        html = reporting.notebook_to_html(nb, Path(notebook).stem)
        artifacts.write_text(html, paths.notebook_html(notebook))
    except PapermillExecutionError as err:
        _publish_failure(notebook, executed)
        print(
            f"stage '{name}' FAILED in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"see {paths.rel(paths.executed_notebook(notebook))} (error shown at the top); "
            "no other output of this stage was written",
            file=sys.stderr,
        )
        return 1
    finally:
        os.environ.pop(artifacts.STAGING_ENV, None)
    artifacts.commit_staging(staging, root)
    report_warnings(name, notebook, nb)
    said = console_file(name)
    if said.is_file():  # the stage's line for the console (evaluate: the champion decision)
        print(said.read_text(encoding="utf-8"), end="")
        said.unlink()
    return 0


def report_warnings(name: str, notebook: str, nb: Any) -> None:
    """Print the warnings a successful stage raised (data-quality rules over their threshold,
    ...) on the console once, so they are not seen only inside an HTML report."""
    found = reporting.warnings_in(nb)
    if found:
        lines = "\n".join(f"  {w}" for w in found)
        print(
            f"stage '{name}' succeeded with {len(found)} warning(s) "
            f"(see {paths.rel(paths.notebook_html(notebook))}):\n{lines}",
            file=sys.stderr,
        )


@contextlib.contextmanager
def process_stderr_to(log: Path) -> Iterator[None]:
    """Send this process's stderr (file descriptor 2, which the kernel inherits) to ``log``.

    The kernel's own chatter (ipykernel's "running over TCP without encryption" and
    "KeyboardInterrupt caught" at shutdown, TensorFlow's C++ start-up lines) is not about the
    study; it goes to ``.staging/<stage>.kernel.log`` instead of the console. What the cells
    print is captured in the executed notebook as before, and the stage's warnings and errors
    are printed after this block.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log, "wb") as fh:
            os.dup2(fh.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _publish_failure(notebook: str, executed: Path) -> None:
    """Publish the failed notebook and its HTML; discard everything else the stage staged."""
    staging = Path(os.environ.pop(artifacts.STAGING_ENV))
    final_nb = paths.executed_notebook(notebook)
    final_nb.parent.mkdir(parents=True, exist_ok=True)
    if executed.exists():
        nb = reporting.clean_executed(executed)
        os.replace(executed, final_nb)
        html = reporting.notebook_to_html(nb, final_nb.stem)
        artifacts.write_text(html, paths.notebook_html(notebook))
    shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tabstudy.pipeline.runner STAGE``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tabstudy.pipeline.runner STAGE", file=sys.stderr)
        return 2
    try:
        return run_stage(args[0])
    except (KeyError, config.ConfigError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
