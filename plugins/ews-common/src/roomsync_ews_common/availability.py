"""Free/busy over ``GetUserAvailability``: many mailboxes per request, long windows in pieces.

The host already cuts the mailboxes to 100 per call (the server's limit); windows longer than
the server's default limit of 42 days are asked in pieces here and joined again.

The request states its time zone as UTC (a ``SerializableTimeZone``, which every generation
since 2007 accepts), so the window and every busy time are plain UTC, whatever zone the server
or the mailboxes are in. exchangelib's ``Protocol.get_free_busy_info`` would first ask
``GetServerTimeZones`` for the zone, on every call: a second request per piece, and an
operation Exchange 2007 does not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from exchangelib import EWSTimeZone
from exchangelib.properties import (
    DaylightTime,
    FreeBusyViewOptions,
    MailboxData,
    StandardTime,
    TimeWindow,
    TimeZone,
)
from exchangelib.services import GetUserAvailability

from roomsync.connector.types import FreeBusy
from roomsync.connector.windows import Busy, joined, split_window
from roomsync.domain import ShowAs
from roomsync_ews_common.mapping import ews_time

MAX_WINDOW = timedelta(days=42)
_STATUS = {"Tentative": ShowAs.TENTATIVE, "Busy": ShowAs.BUSY, "OOF": ShowAs.OOF}  # Free, NoData: not busy


SUNDAY = 7  # exchangelib's weekday numbers start with Monday = 1


def utc_zone() -> TimeZone:
    """UTC as a ``SerializableTimeZone``.

    A zone without daylight saving time still needs both changes; like Microsoft's EWS Managed
    API (``LegacyAvailabilityTimeZone``) they are two fixed dates with no shift at all.
    """
    return TimeZone(
        bias=0,
        standard_time=StandardTime(bias=0, time=time(2), occurrence=1, iso_month=3, weekday=SUNDAY),
        daylight_time=DaylightTime(bias=0, time=time(2), occurrence=1, iso_month=10, weekday=SUNDAY),
    )


def ask_in_utc(protocol: Any, mailboxes: list[str], start: datetime, end: datetime) -> Sequence[Any]:
    """One ``FreeBusyView`` (or the error) per mailbox for a window given in UTC."""
    utc = EWSTimeZone("UTC")
    service = GetUserAvailability(protocol=protocol)
    return list(
        service.call(
            tzinfo=utc,
            mailbox_data=[
                MailboxData(email=mailbox, attendee_type="Required", exclude_conflicts=False)
                for mailbox in mailboxes
            ],
            timezone=utc_zone(),
            free_busy_view_options=FreeBusyViewOptions(
                time_window=TimeWindow(start=start, end=end),
                merged_free_busy_interval=30,
                requested_view="Detailed",
            ),
        )
    )


def free_busy(protocol: Any, mailboxes: list[str], start: datetime, end: datetime) -> list[FreeBusy]:
    utc = EWSTimeZone("UTC")
    busy: dict[str, set[Busy]] = {m: set() for m in mailboxes}
    errors: dict[str, str] = {}
    for piece_start, piece_end in split_window(start, end, MAX_WINDOW):
        views = ask_in_utc(protocol, mailboxes, ews_time(piece_start, utc), ews_time(piece_end, utc))
        for mailbox, view in zip(mailboxes, views, strict=True):
            if isinstance(view, Exception):
                errors[mailbox] = f"{type(view).__name__}: {view}"
                continue
            for event in view.calendar_events or ():
                status = _STATUS.get(event.busy_type)
                if status is not None:
                    # An event across a piece boundary comes back in both pieces: the set joins it.
                    busy[mailbox].add((_utc(event.start), _utc(event.end), status))
    return joined(mailboxes, busy, errors)


def _utc(value: Any) -> datetime:
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)
