"""The worker processes' supervisor and shared memory, without a model: real forks, real signals.

- every worker writes its own row of a shared array histogram, any one exports the sum;
- the reload generation: a bump is acknowledged by the others, a failure or silence is named;
- a worker killed is forked again under its index; SIGTERM stops all and exits 0; a worker that
  keeps dying stops the service with exit 1;
- the request log of several workers reads as one, oldest first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest

from tabstudy.serving import requestlog, workers
from tabstudy.serving.histogram import ArrayHistogram


def _child(work) -> int:
    """Fork; the child runs ``work()`` and exits 0 (1 on an exception)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_each_worker_counts_its_own_row_and_any_exports_the_sum() -> None:
    shared = workers.Shared(3)
    hist = ArrayHistogram("s", "scores", [0.5, 1.0], CollectorRegistry(), shared=shared)
    children = []
    for index, values in enumerate([[0.1, 0.2], [0.7] * 40, [0.9, np.nan]]):

        def work(index: int = index, values: list[float] = values) -> None:
            shared.worker = index
            hist.observe(np.array(values))

        children.append(_child(work))
    assert [_exit_code(p) for p in children] == [0, 0, 0]
    registry = CollectorRegistry()
    registry.register(hist)
    text = generate_latest(registry).decode()
    assert 's_bucket{le="0.5"} 2.0' in text and 's_bucket{le="+Inf"} 43.0' in text
    total = float(next(x for x in text.splitlines() if x.startswith("s_sum ")).split()[1])
    assert abs(total - (0.1 + 0.2 + 0.7 * 40 + 0.9)) < 1e-9


def test_a_reload_generation_is_acknowledged_by_every_worker_or_named() -> None:
    shared = workers.Shared(3)
    shared.worker = 0
    generation = shared.bump()
    assert generation == 1 and shared.wait(generation, 0.05) == ([], [1, 2])

    def follower(index: int, ok: bool) -> None:
        shared.worker = index
        deadline = time.monotonic() + 10
        while shared.generation[0] < generation and time.monotonic() < deadline:
            time.sleep(0.01)
        shared.acknowledge(int(shared.generation[0]), ok)

    pids = [_child(lambda i=i: follower(i, ok=i != 2)) for i in (1, 2)]
    failed, late = shared.wait(generation, 10)
    assert [_exit_code(p) for p in pids] == [0, 0]
    assert failed == [2] and late == []
    assert shared.bump() == 2  # the generation is one counter, whoever bumps


SUPERVISED = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from tabstudy.serving import workers

    out, mode = Path(sys.argv[1]), sys.argv[2]
    shared = workers.Shared(2)

    def run(sock):
        (out / f"{shared.worker}-{os.getpid()}").touch()
        if mode == "crash":
            raise RuntimeError("cannot start")
        while True:
            time.sleep(1)

    sys.exit(workers.serve(workers.listen("127.0.0.1", 0), 2, shared, run))
    """
)


def _supervise(tmp_path: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "supervised.py"
    script.write_text(SUPERVISED)
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), mode],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _started(tmp_path: Path, count: int) -> list[tuple[int, int]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = sorted(tuple(map(int, p.name.split("-"))) for p in tmp_path.glob("*-*"))
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{count} workers did not start in 30 s")


def test_a_killed_worker_is_forked_again_and_sigterm_stops_all(tmp_path) -> None:
    proc = _supervise(tmp_path, "serve")
    first = _started(tmp_path, 2)
    assert [i for i, _ in first] == [0, 1]
    os.kill(first[1][1], signal.SIGKILL)
    again = _started(tmp_path, 3)
    new = [(i, pid) for i, pid in again if (i, pid) not in first]
    assert len(new) == 1 and new[0][0] == 1  # same index, new process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert f"worker 1 (pid {first[1][1]}) exited (killed by SIGKILL)" in proc.stderr.read()
    for _, pid in [first[0], new[0]]:
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped


def test_a_worker_that_keeps_dying_stops_the_service(tmp_path) -> None:
    proc = _supervise(tmp_path, "crash")
    assert proc.wait(timeout=60) == 1
    err = proc.stderr.read()
    assert "RuntimeError: cannot start" in err and "stopping the service" in err, err
    assert len(list(tmp_path.glob("*-*"))) >= 2 + workers.MAX_RESTARTS


def test_the_logs_of_several_workers_read_as_one_oldest_first(tmp_path) -> None:
    lines = {0: [1.0, 3.0, 6.0], 1: [2.0, 4.0], 2: [5.0]}
    for worker, times in lines.items():
        path = tmp_path / requestlog.worker_file(worker)
        path.write_text("".join(json.dumps({"time": t, "w": worker}) + "\n" for t in times))
    (tmp_path / "requests-x.jsonl").write_text("not a worker's log\n")
    path = tmp_path / requestlog.FILE_NAME
    assert [p.name for p in requestlog.files(path)] == [
        "requests.jsonl", "requests-1.jsonl", "requests-2.jsonl"]  # fmt: skip
    assert [r["time"] for r in requestlog.read(path)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_auto_workers_follow_a_cgroup_cpu_quota(tmp_path) -> None:
    available = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    quota.write_text("max 100000\n")
    assert workers.cores(quota) == available
    quota.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert workers.cores(quota) == min(available, 2)
    quota.write_text("50000 100000\n")
    assert workers.cores(quota) == 1
    assert workers.cores(tmp_path / "absent") == available
