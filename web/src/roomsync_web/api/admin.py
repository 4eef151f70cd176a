"""Administration: status per person, the sync test, a cycle now, the differences and their resolution."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from roomsync.engine.differences import (
    MAX_DAYS,
    Difference,
    Resolution,
    find_difference,
    find_differences,
    resolve,
)
from roomsync.errors import NotFound
from roomsync.status import StatusFilter, log_data, status_report
from roomsync.sync_test import sync_test
from roomsync_web.api.schemas import ResolveIn
from roomsync_web.security import Admin

router = APIRouter(prefix="/admin", tags=["administration"])


@router.get("/status")
def status(
    request: Request,
    principal: Admin,
    person: str | None = Query(None, max_length=320),
    environment: str | None = Query(None, max_length=100),
    failing: bool = False,
) -> dict[str, Any]:
    """Per person: environment, last success, failures in a row, last error, pending writes;
    the daemons on the database, the cycles in progress and the recent problems."""
    only = StatusFilter(person, environment, failing)
    return status_report(request.app.state.service.database, only, problems=50).as_dict()


def _person(request: Request, email: str) -> Any:
    with request.app.state.service.database.unit_of_work() as uow:
        found = uow.rooms.get_person(email)
    if found is None:
        raise NotFound(f"unknown person {email}")
    return found


@router.post("/persons/{email}/test")
def run_sync_test(email: str, request: Request, principal: Admin) -> dict[str, Any]:
    """The sync test: assigned, plugin, connect, read, write, free/busy, change detection."""
    steps = sync_test(request.app.state.service.runner, email)
    return {"person": email.lower(), "ok": all(s.ok for s in steps), "steps": [s.model_dump() for s in steps]}


@router.post("/persons/{email}/sync")
def sync_now(email: str, request: Request, principal: Admin) -> dict[str, Any]:
    """One cycle of the person, now (``skipped`` when another process is synchronising them)."""
    report = request.app.state.service.sync_person(_person(request, email))
    return report.as_dict()


def difference_data(d: Difference) -> dict[str, Any]:
    return {**d.as_dict(), "values": d.values()}


@router.get("/differences")
def differences(
    request: Request,
    principal: Admin,
    days: int = Query(MAX_DAYS, ge=1, le=MAX_DAYS),
    person: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """ROOMS against Exchange over the next ``days`` days, each field with both values; the
    persons whose calendars could not be read are in ``not_compared`` with the error."""
    failures: dict[str, str] = {}
    found = find_differences(request.app.state.service.runner, days, person or None, failures)
    return {"differences": [difference_data(d) for d in found], "not_compared": failures}


@router.post("/differences/resolve")
def resolve_difference(
    body: ResolveIn,
    request: Request,
    principal: Admin,
    days: int = Query(MAX_DAYS, ge=1, le=MAX_DAYS),
) -> dict[str, Any]:
    """Resolve one difference, named by mailbox, kind and reservation or item: it is looked up
    afresh, so a difference that went away meanwhile is 404, not a stale write."""
    runner = request.app.state.service.runner
    match = find_difference(runner, body.mailbox, body.kind, body.reservation_id, body.item_id, days)
    if match is None:
        raise HTTPException(404, f"no such difference in {body.mailbox} (any more)")
    done = resolve(runner, match, Resolution(body.resolution))
    return {**difference_data(match), "resolved": done, "by": principal.describe()}


@router.get("/log")
def recent_log(
    request: Request,
    principal: Admin,
    limit: int = Query(100, ge=1, le=1000),
    person: str | None = Query(None, max_length=320),
) -> list[dict[str, Any]]:
    with request.app.state.service.database.unit_of_work() as uow:
        return [log_data(e) for e in uow.sync.recent_log(limit=limit, mailbox=person)]
