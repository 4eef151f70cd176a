"""Free/busy of persons and rooms, merged from Exchange and ROOMS as ``roomsync freebusy`` does."""

from __future__ import annotations

from fastapi import APIRouter, Request

from roomsync.engine.freebusy import free_busy
from roomsync_web.api.schemas import BusyOut, FreeBusyQuery, MailboxFreeBusyOut
from roomsync_web.security import Reader

router = APIRouter(tags=["free/busy"])


@router.post("/freebusy", response_model=list[MailboxFreeBusyOut])
def post_free_busy(query: FreeBusyQuery, request: Request, principal: Reader) -> list[MailboxFreeBusyOut]:
    """Busy times of many mailboxes over a window: ROOMS's bookings with their setup and
    follow-up buffers, merged with what each mailbox's Exchange answers (environments are asked
    at the same time, each in batches as large as its server takes)."""
    runner = request.app.state.service.runner
    answers = free_busy(runner, query.mailboxes, query.start, query.end)
    return [
        MailboxFreeBusyOut(
            mailbox=a.mailbox,
            busy=[BusyOut(start=b.start, end=b.end, status=b.status.value, source=b.source) for b in a.busy],
            errors=a.errors,
        )
        for a in answers
    ]
