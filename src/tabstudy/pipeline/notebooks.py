"""The notebooks' parameters cells (kept equal to params.yaml) and nbval's reference outputs."""

from __future__ import annotations

import pprint
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tabstudy import config, paths, reporting
from tabstudy.pipeline.runner import KERNEL, kernel_env, stage_parameters
from tabstudy.pipeline.stages import STAGES
from tabstudy.stages.base import Stage

SMOKE = "smoke"
PARAMETERS_HEADER = (
    "# Parameters: defaults equal params.yaml resolved with its profile. The pipeline injects\n"
    "# the values it runs with below this cell.\n"
)


def parameters_source(s: Stage, params: dict[str, Any]) -> str:
    """The parameters cell of a stage's notebook: params.yaml's resolved values of what the
    stage's module declares it reads (the runner injects exactly the names this cell assigns)."""
    values = stage_parameters(s.name, (*s.common, *s.sections), config.resolve(params))
    lines = [f"{k} = {pprint.pformat(v, width=100, sort_dicts=False)}" for k, v in values.items()]
    return PARAMETERS_HEADER + "\n".join(lines)


def sync_parameters() -> list[str]:
    """Rewrite every notebook's parameters cell from params.yaml; return the notebooks changed."""
    import nbformat

    params = config.load_params()
    changed = []
    for s in STAGES:
        path = paths.notebooks_dir() / str(s.notebook)
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        source = parameters_source(s, params)
        if cell.source != source:
            cell.source = source
            nbformat.write(nb, path)
            changed.append(path.name)
    return changed


def refresh_notebooks(profile: str = SMOKE) -> None:
    """Re-execute every notebook in order under ``profile`` in a scratch work dir; store outputs
    as nbval's reference (the parameters cells keep params.yaml's values; ``$TABSTUDY_PROFILE``
    applies the profile inside the kernel, as the nbval test does)."""
    import os

    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="tabstudy-refresh-") as tmp:
        work = Path(tmp)
        shutil.copy(paths.params_file(), work / paths.rel(paths.params_file()))
        shutil.copytree(paths.contracts_dir(), work / paths.rel(paths.contracts_dir()))
        notebooks = paths.notebooks_dir()  # the repo's, before the work dir becomes the root
        names = [str(s.notebook) for s in STAGES]
        kernel_env(work, None)
        os.environ[config.PROFILE_ENV] = profile
        for name in names:
            path = notebooks / name
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb,
                kernel_name=KERNEL,
                resources={"metadata": {"path": str(work)}},
                record_timing=False,
                timeout=1800,
            ).execute()
            nbformat.write(clean_notebook(nb), path)
            print(f"refreshed {path.name}")


def clean_notebook(nb: Any) -> Any:
    """Drop volatile metadata (papermill, timings, widget state) but keep outputs and counts."""
    reporting.strip_noise(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    return nb
