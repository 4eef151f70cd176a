"""Every refusal as JSON ``{"detail": "..."}`` naming what is wrong (and where, for bad fields),
with a ``code`` where a program must tell refusals apart (a taken room, a booking window).

roomsync's own errors keep their words: an unknown id is 404, a collision with what is stored
(a room taken, a reservation changed meanwhile) 409, any other input that cannot be stored 422,
a server behind the environment that fails 502.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from roomsync.errors import ConfigError, Conflict, ConnectorError, InvalidInput, NotFound, RoomsyncError
from roomsync_web.security import authenticate

log = logging.getLogger("roomsync.web")


def status_of(exc: RoomsyncError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, ConnectorError):
        return 502
    if isinstance(exc, ConfigError):
        return 503
    return 500


def _where(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "body"
    parts = [str(p) for p in error["loc"]]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        ctx = error.get("ctx") or {}
        return f"the body is not valid JSON ({ctx.get('error', 'malformed')})"
    return str(error["msg"]).removeprefix("Value error, ")


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    if request.url.path.startswith("/api/") and getattr(request.state, "principal", None) is None:
        try:  # the body is checked before the caller: an anonymous caller learns nothing of it
            authenticate(request)
        except HTTPException as refused:
            return await _http(request, refused)
    errors = [{"field": _where(e), "message": _message(e)} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


async def _roomsync(request: Request, exc: RoomsyncError) -> JSONResponse:
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    body: dict[str, Any] = {"detail": str(exc)}
    if exc.code is not None:
        body["code"] = exc.code
    if exc.facts:
        body["facts"] = exc.facts
    return JSONResponse(body, status_code=status)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(RoomsyncError, _roomsync)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
