"""``make tune-distributed``: keras-tuner's own chief/worker search over the ``tune`` space.

On this machine::

    tabstudy tune-distributed [--workers N] [--port P] [--timeout S]
    make tune-distributed [WORKERS=N] [PORT=P]

starts keras-tuner's chief and N workers (default ``tune.workers``) as processes on 127.0.0.1 (a
free port unless ``--port`` names one), waits for them, and prints the trials table (which
worker trained each trial) and the best hyperparameters. If a process fails, the others are
stopped and the message names its role, its exit code and the tail of its stderr; every
process's output is kept in ``.cache/tuner-distributed/logs``.

On several machines, one process per host (every host needs the same commit and the same
processed data, so that every process prints the same search key)::

    chief$   tabstudy tune-distributed --role chief --oracle 0.0.0.0:8470
    host-a$  tabstudy tune-distributed --role worker --tuner-id tuner0 \\
                 --oracle chief:8470
    host-b$  tabstudy tune-distributed --role worker --tuner-id tuner1 \\
                 --oracle chief:8470

The chief binds the address it is given and serves the oracle (insecure gRPC: a trusted
network only); the workers connect to it, each with its own tuner id (two workers with one id
would be handed the same trial). The chief prints the table when the last worker was told to
stop. keras-tuner's own behaviour to know: the chief waits for workers without end (start them,
or stop it); once a worker was told to stop, the chief checks every 20 s whether the others are
done, so it exits up to 20 s after the last trial; a worker started after the chief ended waits
for it (keras-tuner: up to an hour): stop it. A killed search resumes when started again (the
trials it was running are run again; finished ones are not).

Each process runs the tune stage's own code (:func:`tabstudy.models.tuning.prepare_search`,
``make_tuner``, ``search``) with keras-tuner's ``KERASTUNER_*`` variables set for its role
(:func:`tabstudy.models.tuning.set_role`). The search state lives in
``.cache/tuner-distributed/<key>``, apart from the tune stage's ``.cache/tuner/<key>``: each
resumes without disturbing the other. Each training writes a record to ``<key>/runs`` on the
host that ran it; the chief's ``worker`` column shows the records it can read (all of them on
one machine or a shared disk).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tabstudy import artifacts, config, paths
from tabstudy.engines import processes

if TYPE_CHECKING:  # the module itself loads TensorFlow: only role processes import it
    import keras_tuner as kt

    from tabstudy.models.tuning import SearchSetup

LOOPBACK = "127.0.0.1"
CHIEF = "chief"
"""keras-tuner's chief id (``tuning.CHIEF``; not imported here: that module loads TensorFlow,
which the launcher does not need)."""
WORKER_GRACE_S = 15.0
"""After the chief exits, how long a worker may take to exit before it is stopped (a worker
that connects after the chief decided to stop would otherwise wait on it for an hour)."""
CHIEF_GRACE_S = 90.0
"""After every worker exits, how long the chief may take (keras-tuner checks every 20 s)."""
LOST_CHIEF = 3
"""A worker's exit status when the chief stopped answering mid-request. Harmless when the chief
then exits 0 (it had ended the search: a finished search resumed, or a worker that joined as
it ended); the chief's failure or hang is reported otherwise."""
TAIL_LINES = 25


def distributed_dir() -> Path:
    """Where distributed searches keep their state (``<key>/``) and the launcher its logs."""
    return paths.tuner_dir().with_name("tuner-distributed")


def tune_config() -> tuple[config.TuneConfig, int]:
    """The ``tune`` section and the seed of the active profile of params.yaml."""
    params = config.resolve(config.load_params())
    cfg = config.stage_config(params["profile"], params["seed"], tune=params["tune"])
    assert cfg.tune is not None
    return cfg.tune, cfg.seed


def parse_oracle(text: str) -> tuple[str, int]:
    """``HOST:PORT`` as a host and a port; ValueError names the text. An IPv6 host keeps its
    brackets (``[::1]:8470``): keras-tuner joins host and port with a colon."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--oracle {text!r}: expected HOST:PORT, e.g. 10.0.0.5:8470")
    return host, int(port)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on now (the OS picks it; another process could still take it
    before the chief binds it, and then the chief fails and says so)."""
    return processes.free_ports(1, host)[0]


def check_port_free(host: str, port: int) -> None:
    """Raise ValueError naming ``host:port`` if this machine cannot listen there now.

    gRPC binds with SO_REUSEPORT: a chief started on a port another chief still serves would
    bind as well, and the kernel would split the workers between the two. A plain bind (which
    a listening socket refuses) finds that out first."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        try:
            s.bind((bare, port))
        except OSError as err:
            raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None


def missing_inputs() -> list[Path]:
    """The processed files a search reads that are not there."""
    needed = [paths.processed("train"), paths.processed("valid"), paths.feature_spec()]
    return [p for p in needed if not p.is_file()]


# --- one process: the chief or a worker -------------------------------------------------


def run_role(tuner_id: str, host: str, port: int, results: Path | None = None) -> int:
    """Run this process as ``tuner_id`` of the search served at ``host:port``: the chief
    serves the oracle until every trial is done, then prints (and writes to ``results``,
    default ``<key>/results.json``) the trials and the best point; a worker trains the trials
    the chief hands out until told to stop (:func:`work`)."""
    from tabstudy.models import tuning  # TensorFlow: only in the processes that search

    tuning.set_role(tuner_id, host, port)  # before the tuner is made: it reads the env then
    tune, seed = tune_config()
    chief = tuning.is_chief()
    if chief:
        check_port_free(host, port)
    setup = tuning.prepare_search(tune, seed, with_examples=not chief)
    directory = distributed_dir() / setup.key
    what = "serving the oracle" if chief else "asking the oracle"
    print(f"{tuner_id} (pid {os.getpid()}): search {setup.key} ({paths.rel(directory)}), "
          f"{what} at {host}:{port}", flush=True)  # fmt: skip
    tuner = tuning.make_tuner(setup.hypermodel, setup.space, seed, directory, directory / "runs")
    if not chief:
        return work(tuner, setup, f"{host}:{port}")
    tuning.search(tuner, None, None, setup.space)  # serves until every worker was told to stop
    summary = chief_summary(tuner, setup, directory)
    artifacts.write_json(summary, results or directory / "results.json")
    print_summary(summary)
    return 0


def work(tuner: kt.Tuner, setup: SearchSetup, oracle: str) -> int:
    """A worker's search: train what the chief hands out until told to stop; 0, or
    :data:`LOST_CHIEF` when the chief stopped answering."""
    import grpc

    from tabstudy.models import tuning

    try:
        tuning.search(tuner, setup.examples["train"], setup.examples["valid"], setup.space)
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        print(f"{tuner.tuner_id}: lost the chief at {oracle}: {err.details()}", file=sys.stderr)
        return LOST_CHIEF
    records = tuning.read_run_records(tuner.runs)
    mine = records[(records["tuner_id"] == tuner.tuner_id) & (records["pid"] == os.getpid())]
    print(f"{tuner.tuner_id}: told to stop; trained trial(s) {', '.join(mine['trial']) or 'none'}")
    return 0


def chief_summary(tuner: kt.Tuner, setup: SearchSetup, directory: Path) -> dict[str, Any]:
    """The finished search as JSON-able data: its key and directory, the trials table (best
    first, with the worker that trained each), the best trial and its hyperparameters."""
    from tabstudy.models import tuning

    table = tuning.trials_table(tuner, setup.space.initial_points, tuner.runs)
    return {
        "key": setup.key,
        "directory": paths.rel(directory),
        "max_trials": setup.space.max_trials,
        "best_trial": tuner.oracle.get_best_trials(1)[0].trial_id,
        "best": tuning.best_hyperparameters(tuner),
        "columns": list(table.columns),
        "trials": table.to_dict(orient="records"),
    }


def print_summary(summary: dict[str, Any]) -> None:
    """Print the trials table (best first) and the best hyperparameters of a finished search."""
    table = pd.DataFrame(summary["trials"], columns=summary["columns"])
    print(f"search {summary['key']}: {len(table)} trial(s) in {summary['directory']}")
    print(table.to_string(index=False))
    best = json.dumps(summary["best"], sort_keys=True)
    print(f"best hyperparameters (trial {summary['best_trial']}): {best}")


# --- the launcher: a chief and N workers on this machine --------------------------------


Role = processes.Process  # a launched chief or worker


def start_role(name: str, port: int, logs: Path, results: Path) -> Role:
    """Start ``tabstudy tune-distributed --role ...`` for ``name`` (``chief``
    or a worker id) in its own session, its output going to ``logs/<name>.out|.err``."""
    args = [sys.executable, "-m", "tabstudy", "tune-distributed", "--tuner-id", name]
    args += ["--role", "chief" if name == CHIEF else "worker", "--oracle", f"{LOOPBACK}:{port}"]
    args += ["--results", str(results)] if name == CHIEF else []
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "PYTHONUNBUFFERED": "1"}
    return processes.start(name, args, env, logs)


def describe_exit(role: Role, code: int) -> str:
    """A failed process: its role, how it ended and the tail of its stderr."""
    lines = "\n".join("    " + line for line in processes.tail(role.stderr, TAIL_LINES))
    return (
        f"{role.name} (pid {role.pid}) {processes.describe_exit(code)}; "
        f"the end of {paths.rel(role.stderr)}:\n{lines}"
    )


def supervise(roles: list[Role], timeout: float | None) -> tuple[str | None, list[str]]:
    """Wait until every process ended well (``(None, notes)``) or one failed or the time ran
    out (``(message, notes)``); ``roles[0]`` is the chief. Workers still running
    :data:`WORKER_GRACE_S` after the chief ended are left to :func:`stop_all` with a note."""
    deadline = time.monotonic() + timeout if timeout else math.inf
    ended: dict[str, tuple[float, int]] = {}  # role -> (when, exit status)
    while True:
        now = time.monotonic()
        for role in roles:
            code = role.poll()
            if code is not None and role.name not in ended:
                ended[role.name] = (now, code)
        verdict = outcome(roles, ended, now)
        if verdict is not None:
            return verdict
        if now > deadline:
            running = ", ".join(r.name for r in roles if r.name not in ended)
            return f"timed out after {timeout:.0f} s; still running: {running}", []
        time.sleep(0.2)


def outcome(
    roles: list[Role], ended: dict[str, tuple[float, int]], now: float
) -> tuple[str | None, list[str]] | None:
    """The outcome so far: a failure, success with notes, or None (keep waiting)."""
    chief = roles[0]
    for role in roles:
        code = ended.get(role.name, (0.0, 0))[1]
        if code != 0 and not (role is not chief and code == LOST_CHIEF):
            return describe_exit(role, code), []
    running = [r.name for r in roles if r.name not in ended]
    if chief.name in ended:  # the chief ended the search and exited 0
        notes = [f"{n}: lost the chief mid-request as it ended the search" for n, (_, c)
                 in ended.items() if c == LOST_CHIEF]  # fmt: skip
        if not running:
            return None, notes
        if now - ended[chief.name][0] > WORKER_GRACE_S:
            return None, [*notes, f"{', '.join(running)}: still waiting for the chief; stopped"]
    elif running == [chief.name] and now - max(t for t, _ in ended.values()) > CHIEF_GRACE_S:
        return f"chief: still running {CHIEF_GRACE_S:.0f} s after every worker ended", []
    return None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def launch(workers: int, port: int | None, timeout: float | None) -> int:
    """Run the chief and ``workers`` workers on loopback, supervise them and print the result
    (see the module docstring). Returns the exit status: 0, or 1 (a process failed); raises
    ValueError (exit status 2) for a port in use."""
    missing = missing_inputs()
    if missing:
        names = ", ".join(paths.rel(p) for p in missing)
        print(f"tune-distributed: missing {names}: run the features stage first", file=sys.stderr)
        return 2
    if port:
        check_port_free(LOOPBACK, port)
    port = port or free_port()
    logs = distributed_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results = logs / "results.json"
    results.unlink(missing_ok=True)
    names = [CHIEF, *(f"tuner{i}" for i in range(workers))]
    print(f"tune-distributed: chief + {workers} worker(s) on {LOOPBACK}:{port}; "
          f"logs in {paths.rel(logs)}", flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, _raise_interrupt)
    roles: list[Role] = []
    try:
        for name in names:
            roles.append(start_role(name, port, logs, results))
        failure, notes = supervise(roles, timeout)
    except KeyboardInterrupt:
        failure, notes = "interrupted; every process was stopped", []
    finally:
        processes.stop_all(roles, grace_s=10.0)
    for note in notes:
        print(f"tune-distributed: {note}", file=sys.stderr)
    if failure:
        print(f"tune-distributed failed: {failure}", file=sys.stderr)
        return 1
    print_summary(artifacts.read_json(results))
    return 0


def main(
    workers: int | None = None,
    port: int | None = None,
    timeout: float = 0,
    role: str | None = None,
    tuner_id: str | None = None,
    oracle: str | None = None,
    results: Path | None = None,
) -> int:
    """``tabstudy tune-distributed``: launch a search on this machine, or (``role``) run one
    process of it (see the module docstring). Returns the exit status (2: bad arguments)."""
    try:
        if role is None:
            workers = workers or tune_config()[0].workers
            if workers < 1 or (port is not None and not 0 < port < 65536):
                raise ValueError("--workers must be >= 1 and --port in 1-65535")
            return launch(workers, port, timeout or None)
        if role not in (CHIEF, "worker"):
            raise ValueError(f"--role {role!r}: expected chief or worker")
        if not oracle or (role == "worker" and not tuner_id):
            raise ValueError(f"--role {role} needs --oracle HOST:PORT"
                             + (" and --tuner-id" if role == "worker" else ""))  # fmt: skip
        tuner_id = tuner_id or CHIEF
        if (role == CHIEF) != (tuner_id == CHIEF):
            raise ValueError(f"--tuner-id {tuner_id!r} does not fit --role {role}")
        return run_role(tuner_id, *parse_oracle(oracle), results=results)
    except (ValueError, config.ConfigError) as err:
        print(f"tune-distributed: {err}", file=sys.stderr)
        return 2
