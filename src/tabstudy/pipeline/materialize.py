"""The materialize stage: build the online store from the raw tables with the study's own
feature definitions, for the bundle just trained (``python -m tabstudy.pipeline.materialize``)."""

from __future__ import annotations

import sys
import time

from tabstudy import artifacts, config, paths, studies
from tabstudy.data import ingest, store
from tabstudy.models.bundle import load_bundle


def summary_line(where: str, rows: dict[str, int], seconds: float) -> str:
    """The console line of the stage: the store, its tables with their row counts, the time;
    a store without tables says why (a table study has no entities to look up)."""
    if not rows:
        return (
            f"online store {where}: no tables (a table study has no entities: requests carry "
            f"their features) in {seconds:.1f} s"
        )
    tables = ", ".join(f"{name} {count:,} rows" for name, count in rows.items())
    return f"online store {where}: {len(rows)} tables ({tables}) in {seconds:.1f} s"


def main() -> int:
    """Build ``data/online/store.sqlite`` and write its row counts as the stage's metrics."""
    params = config.resolve(config.load_params())
    cfg = studies.stage_config(
        params["profile"], params["seed"], data=params["data"], target=params["target"],
        features=params["features"],
    )  # fmt: skip
    bundle = load_bundle(paths.bundle_dir())
    study = studies.get(cfg.data.source)
    start = time.perf_counter()
    rows = study.materialize(
        ingest.read_raw(), cfg.target, cfg.features, paths.online_store(),
        store.bundle_digest(bundle.path),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    artifacts.write_json({"rows": rows}, paths.metrics_file("materialize"))
    print(summary_line(str(paths.rel(paths.online_store())), rows, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
