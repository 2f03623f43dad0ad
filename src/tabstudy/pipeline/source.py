"""The source stage: stamp the files the configured study reads with their SHA-256
(``python -m tabstudy.pipeline.source``; DVC runs it on every ``dvc repro``).

``dvc.yaml`` is the same for every study, so it cannot name the file ``data.path`` points at
(a profile may switch it). The ingest stage depends on this stamp instead of on a folder: it
re-runs exactly when the configured file's bytes (or the flights package's tables) change, and
anything else under ``external/`` (a copy, a bad file being tried) leaves the study up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tabstudy import artifacts, config, paths, studies


def stamp(source: str, files: dict[str, Path]) -> dict[str, Any]:
    """``{"source": ..., "sha256": {table: digest}}`` for the files each raw table is read from;
    a missing file stamps ``None`` (the ingest stage then says which file is missing).

    Args:
        source: the ``data.source`` the files belong to.
        files: table name -> its file, relative to the project root or absolute.
    """
    digests = {}
    for table, file in sorted(files.items()):
        path = paths.resolve(file)
        digests[table] = artifacts.sha256_file(path) if path.is_file() else None
    return {"source": source, "sha256": digests}


def main() -> int:
    """Write :func:`tabstudy.paths.source_stamp` for the data section of ``params.yaml``."""
    params = config.resolve(config.load_params())
    data = studies.stage_config(params["profile"], params["seed"], data=params["data"]).data
    files = studies.get(data.source).source_files(data)
    artifacts.write_json(stamp(data.source, files), paths.source_stamp())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (KeyError, config.ConfigError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        sys.exit(2)
