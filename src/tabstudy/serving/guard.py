"""The pure-ASGI guard in front of the app: bearer token, body limit, and a response count
and time for every request."""

from __future__ import annotations

import hmac
import time
from typing import Any

from tabstudy import artifacts
from tabstudy.serving.metrics import Metrics

OPEN_PATHS = ("/livez",)
"""Paths answered without the bearer token."""


class Guard:
    """Pure ASGI: bearer-token check, request-body limit (413 on the bytes received), and a
    response count and time for every request (``/metrics``)."""

    def __init__(self, app: Any, token: str | None, max_body: int, metrics: Metrics) -> None:
        self.app, self.token, self.max_body, self.metrics = app, token, max_body, metrics

    def _authorized(self, scope: dict[str, Any]) -> bool:
        if not self.token or scope["path"] in OPEN_PATHS:
            return True
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        return hmac.compare_digest(given, f"Bearer {self.token}".encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if not self._authorized(scope):
                await _answer(send_status, 401, "missing or wrong bearer token",
                              [(b"www-authenticate", b"Bearer")])  # fmt: skip
                return
            body, too_large = await self._read_body(scope, receive)
            if too_large:
                await _answer(send_status, 413, f"request body over {self.max_body:,} bytes")
                return
            await self.app(scope, _replay(body, receive), send_status)
        finally:
            self.metrics.response(scope["path"], status[0], time.perf_counter() - start)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> tuple[bytes, bool]:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return b"", True
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), False


def _replay(body: bytes, receive: Any) -> Any:
    sent = [False]

    async def replay() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Any, status: int, detail: str, headers: list[Any] | None = None) -> None:
    body = artifacts.json_text({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})
