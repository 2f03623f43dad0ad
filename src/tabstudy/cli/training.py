"""Commands around models: the registry, retraining and keras-tuner's distributed search."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(
    epilog="""\b
Examples:
  tabstudy registry list
  tabstudy registry promote                       # make promote
  tabstudy registry promote --force "checked by hand: slice X is fine"
  tabstudy registry challenger v0.0.2             # staging: shadow or canary
  tabstudy registry rollback                      # make rollback
  tabstudy registry fetch v0.0.1                  # restore its bundle from DVC"""
)
def registry() -> None:
    """The model registry (GTO git tags; bundles in DVC): versions, champion, challenger."""


def _registry(command: str, **options: object) -> int:
    from tabstudy.pipeline import registry as commands

    return commands.main(command, **options)  # type: ignore[arg-type]


@registry.command("list")
def list_versions() -> int:
    """Every registered version: its stages, digest and test ROC AUC."""
    return _registry("list")


@registry.command()
@click.option("--ref", help="The git commit or DVC experiment that records the bundle.")
@click.option("--force", metavar="REASON", help="Promote despite the gate, saying why.")
@click.option("--if-refused-exit-0", is_flag=True, help="A refusal is reported, not an error.")
@click.option(
    "--if-unrecorded-exit-0", is_flag=True, help="A bundle no commit records: say why, exit 0."
)
def promote(
    ref: str | None, force: str | None, if_refused_exit_0: bool, if_unrecorded_exit_0: bool
) -> int:
    """Register the evaluated bundle (when blessed); champion if the evaluate stage's gate said
    so. A refused challenger is registered in staging and the command exits 1 with reasons."""
    return _registry(
        "promote", ref=ref, force=force, if_refused_exit_0=if_refused_exit_0,
        if_unrecorded_exit_0=if_unrecorded_exit_0,
    )  # fmt: skip


@registry.command()
def rollback() -> int:
    """The champion leaves prod; the previous champion answers again (a running service:
    POST /v1/admin/reload)."""
    return _registry("rollback")


@registry.command()
@click.argument("version")
def challenger(version: str) -> int:
    """Put a registered VERSION in staging (a shadow or canary rollout can serve it)."""
    return _registry("challenger", version=version)


@registry.command()
@click.argument("version")
def fetch(version: str) -> int:
    """Restore VERSION's bundle from DVC into models/registry and print its path."""
    return _registry("fetch", version=version)


@registry.command()
def resolve() -> int:
    """Write models/champion.json (what the champion stage runs)."""
    return _registry("resolve")


@click.command(
    epilog="""\b
Examples:
  tabstudy retrain --month 2013-12                  # print the dvc exp run command
  tabstudy retrain --month 2013-12 --policy expanding --run"""
)
@click.option("--month", required=True, help="The month the new model serves, YYYY-MM.")
@click.option("--policy", default="sliding", show_default=True, help="sliding or expanding.")
@click.option("--run", "run_it", is_flag=True, help="Run the experiment (else print it).")
def retrain(month: str, policy: str, run_it: bool) -> int:
    """The retraining experiment a scheduler calls: the training window moved to serve MONTH,
    as a `dvc exp run`."""
    from tabstudy.pipeline import retrain as retraining

    return retraining.main(month, policy, run_it)


@click.command(
    "tune-distributed",
    epilog="""\b
Examples:
  tabstudy tune-distributed --workers 2           # chief + 2 workers on 127.0.0.1
\b
  chief$  tabstudy tune-distributed --role chief --oracle 0.0.0.0:8470
  host-a$ tabstudy tune-distributed --role worker --tuner-id tuner0 --oracle chief:8470""",
)
@click.option("--workers", type=click.IntRange(min=1), help="Workers beside the chief.")
@click.option("--port", type=click.IntRange(1, 65535), help="The chief's port (default: free).")
@click.option("--timeout", type=float, default=0, help="Seconds (0: none).")
@click.option("--role", type=click.Choice(["chief", "worker"]), help="Run one process only.")
@click.option("--tuner-id", help="chief, or a worker's unique id (tuner0, tuner1, ...).")
@click.option("--oracle", help="HOST:PORT the chief binds / the workers connect to.")
@click.option(
    "--results", type=click.Path(path_type=Path), help="Chief: where to write the summary JSON."
)
def tune_distributed(
    workers: int | None, port: int | None, timeout: float, role: str | None,
    tuner_id: str | None, oracle: str | None, results: Path | None,
) -> int:  # fmt: skip
    """keras-tuner's own chief/worker search over the tune space (default workers:
    tune.workers)."""
    from tabstudy.pipeline import tune_distributed as search

    return search.main(workers, port, timeout, role, tuner_id, oracle, results)


COMMANDS = (registry, retrain, tune_distributed)
