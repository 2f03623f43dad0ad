"""The request log: one JSON line per request (its rows' features and probabilities as columns),
appended by one writer thread, rotated by size, fed by a bounded queue.

Handlers only enqueue (no file I/O on the request path); the writer drains the queue in batches,
writes whole lines and flushes. The queue holds at most ``max_queued`` requests: when the disk
cannot keep up, :meth:`RequestLog.write` raises :class:`LogFull` and the service answers 503 with
``Retry-After`` (a prediction that cannot be logged is not served, so nothing is dropped
silently). When the file would pass ``max_bytes``, it is renamed ``requests.jsonl.1`` (older ones
shift to ``.2`` ... ``.<keep>``; the oldest beyond ``keep`` is deleted) and a new one is started,
as :class:`logging.handlers.RotatingFileHandler` names them. :meth:`RequestLog.close` (the app's
shutdown, which uvicorn runs on SIGTERM) drains everything, flushes and fsyncs, so no line is lost
under load or on shutdown. :func:`read` returns every line of the rotated files, oldest first.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import threading
import time as clock
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from tabstudy import paths

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATETIME
"""Lines are encoded by orjson: numeric numpy arrays natively (NaN as null), dates and times
as ``str`` gives them (:func:`_plain`)."""

FILE_NAME = "requests.jsonl"
_STOP = object()
LINGER_S = 0.01
"""After the first queued request, the writer waits this long for more before it encodes and
writes them together: one thread wake-up, one write and one flush per group, not per request
(the request path then only appends to the queue; a line reaches the file within ~10 ms)."""


class LogFull(RuntimeError):
    """The request log's queue is full: the disk is behind; retry shortly."""


class RequestLog:
    """An append-only JSON-lines file written by a background thread (see the module
    docstring): ``max_bytes`` per file (at least one line), ``keep`` rotated files,
    ``max_queued`` requests waiting."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int = 64 * 2**20,
        keep: int = 5,
        max_queued: int = 10_000,
        name: str = FILE_NAME,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        self.max_bytes, self.keep = max_bytes, keep
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self._file = open(self.path, "ab")  # noqa: SIM115 (closed in close)
        self._size = self.path.stat().st_size
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def write(self, records: list[dict[str, Any]]) -> None:
        """Queue ``records`` (one line each); never blocks on the disk. :class:`LogFull` when
        ``max_queued`` requests are already waiting."""
        try:
            self._queue.put_nowait(records)
        except queue.Full:
            raise LogFull(
                f"the request log has {self._queue.maxsize:,} requests waiting for the disk"
            ) from None

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not _STOP:
                clock.sleep(LINGER_S)  # let more lines come: one wake-up and write for them all
            while len(batch) < 256:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(b is _STOP for b in batch)
            lines = [
                orjson.dumps(r, default=_plain, option=OPTIONS)
                for records in batch if records is not _STOP for r in records
            ]  # fmt: skip
            for line in lines:
                self._append(line)
            if lines:
                self._file.flush()
            if stop:
                return

    def _append(self, line: bytes) -> None:
        """Write one line, rotating first when it would take the file past ``max_bytes``."""
        size = len(line)
        if self._size and self._size + size > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += size

    def _rotate(self) -> None:
        """Close the file, shift ``.1`` ... ``.keep`` up by one (dropping the last) and start a
        new file; the renamed file is complete (flushed and fsynced first)."""
        _sync(self._file)
        self._file.close()
        for n in range(self.keep - 1, 0, -1):
            older = rotated(self.path, n)
            if older.exists():
                os.replace(older, rotated(self.path, n + 1))
        if self.keep:
            os.replace(self.path, rotated(self.path, 1))
        else:
            self.path.unlink()
        self._file = open(self.path, "ab")  # noqa: SIM115 (closed in close)
        self._size = 0

    def close(self) -> None:
        """Write every queued line, flush and fsync, then close the file."""
        self._queue.put(_STOP)  # waits for room: the writer is draining
        self._thread.join()
        _sync(self._file)
        self._file.close()


def rotated(path: Path, n: int) -> Path:
    """The ``n``-th rotated file of the log at ``path`` (1: the newest)."""
    return path.with_name(f"{path.name}.{n}")


def worker_file(worker: int) -> str:
    """The log file worker ``worker`` of the service writes: :data:`FILE_NAME` for the first
    (the only one of a single-process service), ``requests-<worker>.jsonl`` for the others."""
    return FILE_NAME if worker == 0 else f"{Path(FILE_NAME).stem}-{worker}{Path(FILE_NAME).suffix}"


def _rotations(path: Path) -> list[Path]:
    """The log at ``path`` and its rotated files, oldest first."""
    older, n = [], 1
    while rotated(path, n).is_file():
        older.append(rotated(path, n))
        n += 1
    return [*reversed(older), *([path] if path.is_file() else [])]


def _workers(path: Path) -> list[Path]:
    """``path`` and the other workers' logs beside it (``requests-<n>.jsonl``), by worker."""
    stem, suffix = path.stem, path.suffix
    others = [p for p in path.parent.glob(f"{stem}-*{suffix}")
              if p.name[len(stem) + 1 : -len(suffix) or None].isdigit()]  # fmt: skip
    return [path, *sorted(others, key=lambda p: int(p.name[len(stem) + 1 : -len(suffix)]))]


def _logs(path: Path) -> list[list[Path]]:
    """Each worker's log (:func:`_workers`) that has files: its rotated files and itself,
    oldest first."""
    return [found for log in _workers(path) if (found := _rotations(log))]


def files(path: Path) -> list[Path]:
    """The log at ``path`` and its rotated files, oldest first, then each other worker's
    (:func:`worker_file`) the same way."""
    return [f for log in _logs(path) for f in log]


def read(path: Path) -> list[dict[str, Any]]:
    """Every line of the log at ``path``, its rotated files and the other workers' logs, as
    dicts, oldest first (by their ``time`` when several workers wrote); :class:`ValueError`
    naming the file and line of a bad one, or when there is no log."""
    logs = _logs(path)
    found = [f for log in logs for f in log]
    if not found:
        raise ValueError(f"{paths.rel(path)}: no request log here; serve some requests first")
    records = []
    for file in found:
        with open(file, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{paths.rel(file)} line {number}: not JSON ({err})") from None
    if len(logs) > 1:
        records.sort(key=lambda r: r.get("time", 0.0))  # stable: one worker's order is kept
    return records


def _sync(file: IO[bytes]) -> None:
    """Flush and fsync ``file`` (a pipe or terminal cannot be fsynced: flushed only)."""
    file.flush()
    try:
        os.fsync(file.fileno())
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise


def _plain(value: Any) -> Any:
    """What orjson does not encode itself: a numpy array it cannot take as it is (not
    contiguous: made so; of objects: a list), numpy scalars as Python numbers, dates and times
    as ``str`` writes them."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype.kind == "O" else np.ascontiguousarray(value)
    if isinstance(value, datetime | date | time):
        return str(value)
    return value.item() if hasattr(value, "item") else str(value)
