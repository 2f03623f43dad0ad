"""The request log: one JSON line per request (its rows' features and probabilities as columns),
appended by one writer thread.

Handlers only enqueue (no file I/O on the request path); the writer drains the queue in batches,
writes whole lines and flushes. :meth:`RequestLog.close` (the app's shutdown, which uvicorn runs on
SIGTERM) drains everything, flushes and fsyncs, so no line is lost under load or on shutdown. The
monitor stage can read the file as JSON lines.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path
from typing import Any

FILE_NAME = "requests.jsonl"
_STOP = object()


class RequestLog:
    """An append-only JSON-lines file written by a background thread."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def write(self, records: list[dict[str, Any]]) -> None:
        """Queue ``records`` (one line each); never blocks on the disk."""
        self._queue.put(records)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get())
            stop = any(b is _STOP for b in batch)
            lines = [
                json.dumps(r, separators=(",", ":"), default=_plain) + "\n"
                for records in batch if records is not _STOP for r in records
            ]  # fmt: skip
            if lines:
                self._file.write("".join(lines))
                self._file.flush()
            if stop:
                return

    def close(self) -> None:
        """Write every queued line, flush and fsync, then close the file."""
        self._queue.put(_STOP)
        self._thread.join()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)
