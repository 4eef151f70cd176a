"""Administration: status per person, the sync test, a cycle now, the differences and their resolution."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from roomsync.engine.difference_scans import ScanRequest, repair_scope, resolve_each, resolve_records, scan
from roomsync.engine.differences import DEFAULT_DAYS, MAX_DAYS, Difference, Resolution
from roomsync.errors import NotFound
from roomsync.status import StatusFilter, log_data, status_report
from roomsync.storage.differences import DifferenceState
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
    return d.as_dict()


@router.get("/differences")
def differences(
    request: Request,
    principal: Admin,
    days: int = Query(DEFAULT_DAYS, ge=1, le=MAX_DAYS),
    person: Annotated[list[str] | None, Query()] = None,
    environment: str | None = Query(None, max_length=100),
    reservation: Annotated[list[str] | None, Query()] = None,
    all: bool = False,
) -> dict[str, Any]:
    """A scan: ROOMS against Exchange over the next ``days`` days, stored as records (``id``,
    ``state``), each field with both values, which side changed last and a recommendation. Open
    ones only unless ``all`` (ignored ones too); the persons whose calendars could not be read
    are in ``not_compared`` with the error."""
    request_ = ScanRequest(
        days=days, persons=person or None, environment=environment, reservation_ids=reservation or None
    )
    result = scan(request.app.state.service.runner, request_)
    shown = result.differences if all else result.open
    return {"differences": [difference_data(d) for d in shown], "not_compared": result.not_compared}


@router.get("/differences/stored")
def stored_differences(
    request: Request,
    principal: Admin,
    state: Annotated[list[DifferenceState] | None, Query()] = None,
    person: Annotated[list[str] | None, Query()] = None,
    environment: str | None = Query(None, max_length=100),
) -> list[dict[str, Any]]:
    """The stored differences (default: open), without reading Exchange: who settled each and how."""
    records = request.app.state.service.database.differences.list(
        states=state or [DifferenceState.OPEN], mailboxes=person or None, environment=environment
    )
    return [r.as_dict() for r in records]


@router.post("/differences/resolve")
def resolve_difference(
    body: ResolveIn,
    request: Request,
    principal: Admin,
    days: int = Query(DEFAULT_DAYS, ge=1, le=MAX_DAYS),
) -> dict[str, Any]:
    """Resolve one difference, by its ``id`` or named by mailbox, kind and reservation or item:
    it is looked up afresh, so a difference that went away meanwhile is 404, not a stale write."""
    runner = request.app.state.service.runner
    by = principal.describe()
    if body.id is not None:
        [outcome] = resolve_records(runner, [body.id], Resolution(body.resolution), by)
    else:
        if body.mailbox is None or body.kind is None:
            raise HTTPException(422, "name the difference by id, or by mailbox and kind")
        found = scan(runner, ScanRequest(days=days, persons=[body.mailbox])).differences
        match = next(
            (d for d in found if d.matches(body.mailbox, body.kind, body.reservation_id, body.item_id)), None
        )
        if match is None:
            raise HTTPException(404, f"no such difference in {body.mailbox} (any more)")
        [outcome] = resolve_each(runner, [match], lambda _: (Resolution(body.resolution), None), by)
    if outcome.error:
        raise HTTPException(409, outcome.error)
    return {**difference_data(outcome.difference), "resolved": outcome.done, "by": by}


@router.post("/differences/repair")
def repair_differences(
    request: Request,
    principal: Admin,
    dry_run: bool = False,
    days: int = Query(DEFAULT_DAYS, ge=1, le=MAX_DAYS),
    person: Annotated[list[str] | None, Query()] = None,
    environment: str | None = Query(None, max_length=100),
) -> dict[str, Any]:
    """A scan, then the configured repair policy on what is open, after the cycle of each person it
    would change (``dry_run``: no cycle, only what it would do)."""
    runner = request.app.state.service.runner
    scope = ScanRequest(days=days, persons=person or None, environment=environment)
    result, outcomes = repair_scope(runner, scope, dry_run)
    return {
        "repairs": [
            {
                **difference_data(o.difference),
                "policy": o.decision.policy.value if o.decision else None,
                "resolution": o.decision.resolution.value if o.decision and o.decision.resolution else None,
                "why": o.decision.why if o.decision else None,
                "done": o.done,
                "error": o.error,
            }
            for o in outcomes
        ],
        "dry_run": dry_run,
        "not_compared": result.not_compared,
    }


@router.get("/log")
def recent_log(
    request: Request,
    principal: Admin,
    limit: int = Query(100, ge=1, le=1000),
    person: str | None = Query(None, max_length=320),
) -> list[dict[str, Any]]:
    with request.app.state.service.database.unit_of_work() as uow:
        return [log_data(e) for e in uow.sync.recent_log(limit=limit, mailbox=person)]
