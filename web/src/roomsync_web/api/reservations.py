"""Reservations: listed, shown with their sync state and journal, booked, changed, cancelled.

Every write goes through :mod:`roomsync.booking`, the store and its journal, exactly as the
command line's; the next cycle of the organizer takes it to Exchange.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import AwareDatetime

from roomsync import booking
from roomsync.booking import Booking
from roomsync.domain import Reservation
from roomsync.storage.protocols import Origin, RoomsStore
from roomsync_web.api.schemas import (
    JournalOut,
    LinkOut,
    ReservationChange,
    ReservationDetail,
    ReservationIn,
    ReservationOut,
)
from roomsync_web.security import Booker, Reader, may_act_for

router = APIRouter(tags=["reservations"])


def _involves(r: Reservation, email: str) -> bool:
    return email in {r.organizer, r.creator, *(p.email for p in r.fields.participants)}


def _bookers(rooms: RoomsStore, email: str) -> tuple[str, ...]:
    """Who ``email``'s person names as booker: they may see, change and cancel its reservations."""
    person = rooms.get_person(email)
    return person.bookers if person is not None else ()


@router.get("/reservations", response_model=list[ReservationOut])
def list_reservations(
    request: Request,
    principal: Reader,
    organizer: str | None = Query(None, max_length=320),
    room: str | None = Query(None, max_length=320),
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    cancelled: bool = Query(False, description="Include cancelled reservations."),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[ReservationOut]:
    """Ordered by start. A person sees the reservations they organise, book or take part in."""
    with request.app.state.service.database.unit_of_work() as uow:
        found = uow.rooms.reservations(
            organizer=organizer.strip().lower() if organizer else None,
            start=start,
            end=end,
            include_cancelled=cancelled,
        )
    if room:
        found = [r for r in found if room.strip().lower() in r.fields.rooms]
    if not principal.is_admin and principal.person is not None:
        found = [r for r in found if _involves(r, principal.person)]
    return [ReservationOut.of(r) for r in found[offset : offset + limit]]


@router.get("/reservations/{reservation_id}", response_model=ReservationDetail)
def show_reservation(reservation_id: str, request: Request, principal: Reader) -> ReservationDetail:
    with request.app.state.service.database.unit_of_work() as uow:
        found = booking.existing(uow, reservation_id)
        if (
            not principal.is_admin
            and principal.person is not None
            and not _involves(found, principal.person)
            and principal.person not in _bookers(uow.rooms, found.organizer)
        ):
            raise HTTPException(404, f"no reservation {reservation_id}")  # others' bookings are not shown
        links = uow.sync.links_for_reservation(reservation_id)
        journal = uow.rooms.journal(reservation_id)
    return ReservationDetail(
        reservation=ReservationOut.of(found),
        links=[
            LinkOut(
                mailbox=link.mailbox,
                item_id=link.item_id,
                state=link.state.value,
                conflicts=link.conflicts,
                last_error=link.last_error,
            )
            for link in links
        ],
        journal=[
            JournalOut(seq=j.seq, at=j.at, action=j.action, origin=j.origin.value, actor=j.actor)
            for j in journal
        ],
    )


@router.post("/reservations", response_model=ReservationOut, status_code=201)
def create_reservation(
    body: ReservationIn,
    request: Request,
    principal: Booker,
    response: Response,
) -> ReservationOut:
    """Book. A person books as the organizer or for a person who named them as booker (an
    administrator for anyone); a service key bound to no person books for anyone. A person
    booking for another is ``booked_by`` unless they say otherwise. 409 when a room is taken."""
    service = request.app.state.service
    with service.database.unit_of_work() as uow:
        may_act_for(principal, body.organizer, "book", uow.rooms)
        booked_by = body.booked_by
        if booked_by is not None:
            may_act_for(principal, booked_by, "book", uow.rooms)
        elif not principal.is_admin and principal.person is not None:
            booked_by = principal.person
        wanted = Booking(
            **body.model_dump(exclude={"comment", "show_as", "recurrence", "from_outlook", "booked_by"}),
            booked_by=booked_by,
            comment=body.comment,
            show_as=body.show_as,
            recurrence=body.recurrence,
        )
        stored = booking.book(uow, wanted, origin=Origin.ROOMS)
        if body.from_outlook:
            wait = timedelta(minutes=service.config.outlook_wait_minutes)
            booking.await_outlook(uow, stored, datetime.now(UTC) + wait)
        uow.commit()
    request.app.state.service.changed(stored.organizer)
    response.headers["Location"] = f"/api/v1/reservations/{stored.id}"
    return ReservationOut.of(stored)


@router.patch("/reservations/{reservation_id}", response_model=ReservationOut)
def update_reservation(
    reservation_id: str,
    body: ReservationChange,
    request: Request,
    principal: Booker,
) -> ReservationOut:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"organizer", "version"})
    if "rooms" in changes:
        changes["rooms"] = tuple(changes["rooms"] or ())
    with request.app.state.service.database.unit_of_work() as uow:
        current = booking.existing(uow, reservation_id)
        may_act_for(principal, current.organizer, "change reservations", uow.rooms)
        if body.organizer is not None:
            may_act_for(principal, body.organizer, "hand reservations over", uow.rooms)
        stored = booking.change(
            uow,
            reservation_id,
            changes,
            organizer=body.organizer,
            expected_version=body.version,
            actor=principal.describe(),
        )
        uow.commit()
    request.app.state.service.changed(current.organizer, stored.organizer)
    return ReservationOut.of(stored)


@router.delete("/reservations/{reservation_id}", response_model=ReservationOut)
def cancel_reservation(
    reservation_id: str,
    request: Request,
    principal: Booker,
    reason: str = Query("", max_length=1000),
) -> ReservationOut:
    """Cancel: the entry leaves the organizer's calendar at the next cycle."""
    with request.app.state.service.database.unit_of_work() as uow:
        current = booking.existing(uow, reservation_id)
        may_act_for(principal, current.organizer, "cancel reservations", uow.rooms)
        stored = booking.cancel(uow, reservation_id, reason, actor=principal.describe())
        uow.commit()
    request.app.state.service.changed(stored.organizer)
    return ReservationOut.of(stored)
