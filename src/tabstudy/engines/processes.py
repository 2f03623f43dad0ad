"""Process supervision, in one place: free ports, start a process in its own session with its
output in log files, stop a group of them, and read the tail of a log.

Used by the multi-worker trainer (:mod:`tabstudy.models.distributed`) and by keras-tuner's
chief/worker launcher (:mod:`tabstudy.pipeline.tune_distributed`). Each keeps its own rule for
when a run has failed; what a process is and how it is started and stopped is decided here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """One started process: its name, the process and its two log files."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        """Its exit status, or None while it runs (negative: killed by that signal)."""
        return self.popen.poll()


def free_ports(count: int, host: str = "") -> list[int]:
    """``count`` distinct TCP ports nothing listens on now, on ``host`` (``""``: every
    interface). All sockets are held until every port is picked, so the ports differ; another
    process may still take one before ours binds it, and the caller must say so or retry."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def start(name: str, command: Sequence[str], env: Mapping[str, str], logs: Path) -> Process:
    """Start ``command`` in its own session (so :func:`stop_all` reaches its children too),
    with no stdin, its stdout and stderr going to ``logs/<name>.out`` and ``.err`` (files, not
    pipes, which would block a chatty process once full)."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        popen = subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Process(name, popen, out, err)


def stop_all(processes: Iterable[Process], grace_s: float = 5.0) -> None:
    """SIGTERM the process group of each one still running, give them ``grace_s`` seconds in
    all, then SIGKILL what is left; every process is reaped when this returns."""
    procs = list(processes)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
        deadline = time.monotonic() + grace_s
        for p in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.05, deadline - time.monotonic()))
    for p in procs:
        p.popen.wait()


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log file (none if it is missing or empty)."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return text.rstrip().splitlines()[-lines:]


def describe_exit(code: int) -> str:
    """How a process ended, in words: its exit code or the signal that killed it."""
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
