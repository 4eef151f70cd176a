"""``/healthz`` (the process answers), ``/readyz`` (it can do its work) and ``/metrics``.

Health answers anyone (a load balancer has no key); readiness and metrics too, since they name
no person and hold no secret: environments, counts and ages only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from roomsync_web.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(request: Request) -> tuple[bool, dict[str, Any]]:
    service = request.app.state.service
    checks: dict[str, Any] = {}
    try:
        with service.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "url": service.database.display_url}
        figures = service.database.figures()
    except Exception as exc:
        checks["database"] = {"ok": False, "url": service.database.display_url, "error": type(exc).__name__}
        return False, checks
    now = datetime.now(UTC)
    environments = {}
    for name in service.settings.environments:
        found = figures.get(name)
        age = (now - found.last_attempt).total_seconds() if found and found.last_attempt else None
        environments[name] = {
            "configured": True,
            "persons": found.persons if found else 0,
            "last_cycle_age_seconds": age,
        }
    unassigned = figures.get(None)
    checks["environments"] = environments
    checks["environments_ok"] = bool(service.settings.environments)
    checks["persons_without_environment"] = unassigned.persons if unassigned else 0
    return checks["environments_ok"], checks


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """503 while the database cannot be reached or no environment is configured."""
    ok, checks = readiness(request)
    return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(request.app.state.service.metrics.text(), media_type=CONTENT_TYPE)
