"""The one process-supervision module: start, tail, stop a group (children included), ports."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from tabstudy.engines import processes


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_start_writes_both_logs_and_tail_reads_the_last_lines(tmp_path) -> None:
    code = "import sys\nfor i in range(30): print(f'err {i}', file=sys.stderr)\nprint('out')"
    proc = processes.start("w0", _python(code), dict(os.environ), tmp_path / "logs")
    assert proc.popen.wait(timeout=30) == 0 and proc.poll() == 0
    assert proc.stdout == tmp_path / "logs" / "w0.out" and proc.stdout.read_text() == "out\n"
    assert processes.tail(proc.stderr, 3) == ["err 27", "err 28", "err 29"]
    assert processes.tail(tmp_path / "missing.err", 3) == []


def test_stop_all_ends_each_group_with_its_children(tmp_path) -> None:
    """A process that ignores SIGTERM and has a child: both are gone after stop_all, and the
    well-behaved one ended by SIGTERM."""
    pidfile = tmp_path / "child.pid"
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(600)\n"
    )
    sleeper = _python("import time; time.sleep(600)")
    procs = [
        processes.start("stubborn", _python(stubborn), dict(os.environ), tmp_path),
        processes.start("plain", sleeper, dict(os.environ), tmp_path),
    ]
    deadline = time.monotonic() + 30
    while not (pidfile.is_file() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    processes.stop_all(procs, grace_s=1.0)
    assert [p.poll() for p in procs] == [-9, -15]
    assert _gone(child)
    assert processes.describe_exit(-9) == "was killed by signal 9"
    assert processes.describe_exit(3) == "exited with code 3"


def _gone(pid: int, wait_s: float = 10.0) -> bool:
    """The child (reparented once its parent died) is dead or a zombie."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = processes.free_ports(4, "127.0.0.1")
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
