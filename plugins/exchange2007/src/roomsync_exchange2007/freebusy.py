"""Free/busy on Exchange 2007: ``GetUserAvailability`` with the request's time zone stated as UTC.

exchangelib's ``Protocol.get_free_busy_info`` first asks ``GetServerTimeZones`` for the zone of
the window, an operation 2007 does not have (it came with 2010). The availability request itself
exists in 2007 and carries its zone as a ``SerializableTimeZone`` (``Bias``, ``StandardTime``,
``DaylightTime``, all required in the 2007 schema), so it is written here directly: UTC, whose two
changes move the clock by nothing. The window and every busy time are then plain UTC, whatever
zone the server or the mailboxes are in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
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
