"""Four generated tables through the README's "Bring your own data" path, as a new user runs
them: what the console printed and what the model card says.

Each table comes from :mod:`tabstudy.data.examples` and carries one trap:

* ``credit``       its own ``weekday``/``month``/``hour`` columns beside the time column;
* ``sensors``      a column that is most of the outcome (run once as given, then with the
                   column accepted under ``features.allow_leaky``);
* ``customers``    no time column at all;
* ``rare_events``  5% positives, about 60 of them in the test split.

For each, in a fresh copy of the project (tracked files only, as a clone has them): write the
table under ``external/``, infer its contract, set the profile in params.yaml the README's way,
run ``dvc repro``, and print the console's warning, failure and gate lines and the card's status,
summary and warning lines. Nothing is asserted (``tests/test_new_tables.py`` does that for three
of them); the output is the transcript the issue asked for.

Usage: .venv/bin/python benchmarks/own_tables.py [--tables credit sensors ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FEATURES = {"categorical": None, "numeric": None, "exclude": [], "valid_frac": 0.15,
            "test_frac": 0.15, "reference_bins": 10, "leakage_auc": 0.98,
            "allow_leaky": {}}  # fmt: skip

TABLES: dict[str, dict] = {
    "credit": {
        "suffix": ".parquet", "profile": "smoke,credit",
        "target": {"column": "status", "positive": "bad"},
        "features": {"time_column": "applied_at", "slices": ["region"]},
    },
    "sensors": {
        "suffix": ".csv", "profile": "smoke,sensors",
        "target": {"column": "load", "positive": "busy"},
        "features": {"time_column": None, "slices": []},
        "then": {"allow_leaky": {"registered": "counted before the hour starts (a test)"}},
    },
    "customers": {
        "suffix": ".csv", "profile": "customers",
        "target": {"column": "churned", "positive": "yes"},
        "features": {"time_column": None, "slices": ["plan"]},
    },
    "rare_events": {
        "suffix": ".csv", "profile": "rare_events",
        "target": {"column": "failure", "positive": 1},
        "features": {"time_column": "read_at", "slices": ["site"]},
    },
}  # fmt: skip
"""Per table: file type, profile list, target and the feature keys beyond :data:`FEATURES`
(``then``: feature keys for a second run after the first)."""

CONSOLE = re.compile(r"Warning: |FAILED|champion gate|suspected|succeeded with|[Ee]rror: ")
CARD = re.compile(r"WARNING|[Ii]mbalance|positive|No time axis|[Mm]onitored|allow_leaky|leak")


def _yaml() -> YAML:
    yaml12 = YAML(typ="safe", pure=True)
    yaml12.default_flow_style = False
    return yaml12


def _copy_project(dest: Path) -> Path:
    """The project's tracked and untracked-but-not-ignored files, as a clone would have them."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABSTUDY_", "DVC_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env['PATH']}", PYTHONPATH=str(work / "src"),
               WANDB_MODE="disabled", TABSTUDY_WORKDIR=str(work))  # fmt: skip
    return env


def _run(work: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=work, env=_env(work), capture_output=True, text=True)


def _set_profile(work: Path, name: str, how: dict, features: dict) -> None:
    path = work / "params.yaml"
    params = _yaml().load(path.read_text())
    params["profile"] = how["profile"]
    params["data"]["profiles"][name] = {"source": "file", "path": f"external/{name}{how['suffix']}",
                                        "delimiter": ",", "sample_frac": 1.0}  # fmt: skip
    params["validate"]["profiles"][name] = {"contract": f"contracts/{name}.yaml"}
    params["target"]["profiles"][name] = how["target"]
    params["features"]["profiles"][name] = {**FEATURES, **how["features"], **features}
    with open(path, "w") as fh:
        _yaml().dump(params, fh)


def _repro(work: Path, title: str) -> None:
    start = time.perf_counter()
    out = _run(work, "dvc", "repro")
    seconds = time.perf_counter() - start
    print(f"\n### {title}: `dvc repro` exit {out.returncode} in {seconds:.0f} s\n")
    log = out.stdout + out.stderr
    (work / f"console-{len(list(work.glob('console-*.log')))}.log").write_text(log)
    print("Console (warning and gate lines, and a failure's whole message):\n```")
    failing = False
    for line in log.splitlines():
        failing = failing or "FAILED" in line
        if failing and (not line.strip() or line.startswith(("ERROR", "Running"))):
            failing = False
        if failing or CONSOLE.search(line):
            print(line.rstrip()[:300])
    print("```")
    card = work / "reports" / "model_card.md"
    if out.returncode != 0 or not card.exists():
        return
    text = card.read_text()
    status = [ln for ln in text.splitlines()[:6] if ln.startswith("**")]
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0].strip().splitlines()
    rest = text.split("## Summary", 1)[1].split("\n## ", 1)[1]
    print("\nCard (status, summary, and every line on warnings, positives, leakage, time):\n")
    for line in [*status, *summary, *(ln for ln in rest.splitlines() if CARD.search(ln))]:
        print(f"> {line.strip()[:400]}")


def run_table(name: str, scratch: Path) -> None:
    """One table through the README's path in a fresh copy under ``scratch``."""
    how = TABLES[name]
    work = _copy_project(scratch / name)
    data = work / "external" / f"{name}{how['suffix']}"
    subprocess.run([sys.executable, "-m", "tabstudy", "example-data", name, str(data)],
                   cwd=work, env=_env(work), check=True, capture_output=True)  # fmt: skip
    infer = _run(work, sys.executable, "-m", "tabstudy", "contract", "infer",
                 str(data.relative_to(work)), "--output", f"contracts/{name}.yaml")  # fmt: skip
    infer.check_returncode()
    _set_profile(work, name, how, {})
    print(f"\n## {name} (profile {how['profile']})")
    _repro(work, "as given")
    if "then" in how:
        _set_profile(work, name, how, how["then"])
        _repro(work, f"then with {sorted(how['then'])} set")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=list(TABLES))
    parser.add_argument("--keep", type=Path, help="keep the projects here (default: deleted)")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for name in args.tables:
            run_table(name, args.keep)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tables:
            run_table(name, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
