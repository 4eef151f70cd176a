"""What every request passes: a bound on the body's size, the structured access log, metrics.

The access log is one JSON line per request (through roomsync's logging, which redacts
credentials): method, path without its query (a query may hold a validation token), status,
milliseconds, who called and from where.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API = "/api/v1"

access_log = logging.getLogger("roomsync.web.access")


class _TooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware: refuses bodies over ``max_body`` with 413 (by Content-Length, or while
    they stream in), then logs and counts the request."""

    def __init__(self, app: ASGIApp, max_body: int, metrics: Any) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._refuse(send, status)
            self._log(scope, status["code"], started)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, bounded, watched)
        except _TooLarge:
            await self._refuse(send, status)
        finally:
            self._log(scope, status["code"], started)

    async def _refuse(self, send: Send, status: dict[str, int]) -> None:
        body = (f'{{"detail": "the body is larger than {self.max_body} bytes"}}').encode()
        status["code"] = 413
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _log(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if template is None:
            template = "unmatched"  # a 404: its path is not a label (unbounded)
        elif scope["path"].startswith(API) and not template.startswith(API):
            template = API + template  # routes of an included router know only their own part
        self.metrics.request(scope["method"], template, status, started)
        state = scope.get("state") or {}
        principal = state.get("principal")
        client = scope.get("client")
        access_log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "caller": principal.describe() if principal is not None else None,
                "client": client[0] if client else None,
            },
        )
