"""Free/busy over ``GetUserAvailability``: many mailboxes per request, long windows in pieces.

The host already cuts the mailboxes to 100 per call (the server's limit); windows longer than
the server's default limit of 42 days are asked in pieces here and joined again. Times are asked
and answered in UTC, so no server time zone has to be trusted. How one piece is asked is
replaceable (``ask``): Exchange 2007 has no ``GetServerTimeZones``, which exchangelib's
``get_free_busy_info`` calls first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import EWSTimeZone

from roomsync.model import BusyInterval, FreeBusy, ShowAs
from roomsync_ews_common.mapping import ews_time

MAX_WINDOW = timedelta(days=42)
_STATUS = {"Tentative": ShowAs.TENTATIVE, "Busy": ShowAs.BUSY, "OOF": ShowAs.OOF}  # Free, NoData: not busy


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    pieces = []
    while start < end:
        pieces.append((start, min(start + MAX_WINDOW, end)))
        start += MAX_WINDOW
    return pieces


Ask = Callable[[Any, list[str], datetime, datetime], Sequence[Any]]
"""``ask(protocol, mailboxes, start, end)``: one ``FreeBusyView`` (or exception) per mailbox, in
order, for a window of at most 42 days given in UTC."""


def ask_with_server_zones(
    protocol: Any, mailboxes: list[str], start: datetime, end: datetime
) -> Sequence[Any]:
    """exchangelib's way: the request's zone comes from ``GetServerTimeZones`` (2010 and later)."""
    return list(
        protocol.get_free_busy_info(
            [(mailbox, "Required", False) for mailbox in mailboxes], start, end, requested_view="Detailed"
        )
    )


def free_busy(
    protocol: Any, mailboxes: list[str], start: datetime, end: datetime, ask: Ask = ask_with_server_zones
) -> list[FreeBusy]:
    utc = EWSTimeZone("UTC")
    busy: dict[str, set[tuple[datetime, datetime, ShowAs]]] = {m: set() for m in mailboxes}
    errors: dict[str, str] = {}
    for piece_start, piece_end in windows(start, end):
        views = ask(protocol, mailboxes, ews_time(piece_start, utc), ews_time(piece_end, utc))
        for mailbox, view in zip(mailboxes, views, strict=True):
            if isinstance(view, Exception):
                errors[mailbox] = f"{type(view).__name__}: {view}"
                continue
            for event in view.calendar_events or ():
                status = _STATUS.get(event.busy_type)
                if status is not None:
                    # An event across a piece boundary comes back in both pieces: the set joins it.
                    busy[mailbox].add((_utc(event.start), _utc(event.end), status))
    return [
        FreeBusy(
            mailbox=mailbox,
            intervals=tuple(BusyInterval(start=s, end=e, status=st) for s, e, st in sorted(busy[mailbox])),
            error=errors.get(mailbox),
        )
        for mailbox in mailboxes
    ]


def _utc(value: Any) -> datetime:
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)
