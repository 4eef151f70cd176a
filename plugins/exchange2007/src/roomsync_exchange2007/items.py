"""Calendar items written the way the Exchange 2007 SP1 schema declares them.

What differs from what exchangelib 5.6.0 writes for a 2007 server:

* times go out in UTC and the entry's zone as ``MeetingTimeZone`` named by ``TimeZoneName``
  (:mod:`roomsync_exchange2007.timezones`); the server expands a series in that zone, so a weekly
  09:00 stays at 09:00 across a daylight saving change;
* ``WeeklyRecurrence`` carries ``Interval`` and ``DaysOfWeek`` only: 2007's
  ``WeeklyRecurrencePatternType`` has no ``FirstDayOfWeek`` (it came with 2010 SP1);
* an update names ``MeetingTimeZone`` itself: exchangelib adds its zone fields to an update only
  for items of exactly its own ``CalendarItem`` class, and would write them the 2010 way.

The stamp and roomsync's other extended properties are registered on ``CalendarItem`` before the
subclass copies its fields, so it carries them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.properties import Fields, OccurrenceItemId
from exchangelib.recurrence import WeeklyPattern

from roomsync.domain import EventFields, Recurrence, Weekday
from roomsync_ews_common import connector, mapping
from roomsync_ews_common import stamp as props
from roomsync_exchange2007.timezones import MeetingTimeZoneField

UTC = EWSTimeZone("UTC")

UPDATE_FIELDS = (*mapping.SYNCED_FIELDS, "_meeting_timezone")
"""What an update replaces: the synced fields and the entry's zone."""


class WeeklyPattern2007(WeeklyPattern):
    """``WeeklyRecurrence`` without ``FirstDayOfWeek``, which the 2007 schema does not declare."""

    @classmethod
    def supported_fields(cls, version: Any) -> tuple[Any, ...]:
        return tuple(f for f in super().supported_fields(version) if f.name != "first_day_of_week")


props.register()  # the subclass copies CalendarItem's fields: roomsync's properties must be in them


class CalendarItem2007(CalendarItem):
    """A calendar item whose ``MeetingTimeZone`` is written and read the 2007 way."""

    FIELDS = Fields(
        *(MeetingTimeZoneField() if f.name == "_meeting_timezone" else f for f in CalendarItem.FIELDS)
    )


def _weekly(pattern: Any, recurrence: Recurrence) -> Any:
    """The 2007 form of a weekly pattern; other patterns are the same in every generation."""
    if not isinstance(pattern, WeeklyPattern):
        return pattern
    if recurrence.interval > 1 and Weekday.SU in recurrence.weekdays and len(recurrence.weekdays) > 1:
        # Which week a Sunday belongs to depends on the first day of the week, which roomsync
        # counts from Monday and a 2007 series cannot carry.
        raise ValueError(
            "Exchange 2007 cannot store a weekly series every 2 or more weeks on Sunday and other "
            "days (it has no first day of the week for a series); book Sunday as a series of its own"
        )
    return WeeklyPattern2007(interval=pattern.interval, weekdays=pattern.weekdays)


def to_item(
    account: Any,
    fields: EventFields,
    stamp: str,
    setup_minutes: int = 0,
    followup_minutes: int = 0,
    **identity: Any,
) -> CalendarItem2007:
    """:func:`roomsync_ews_common.mapping.to_item` in the 2007 form."""
    item = mapping.to_item(
        account, fields, stamp, setup_minutes, followup_minutes, item_cls=CalendarItem2007, **identity
    )
    # The series' first day (the recurrence's StartDate) was taken on the local wall clock above.
    item.start = mapping.ews_time(fields.start, UTC)
    item.end = mapping.ews_time(fields.end, UTC)
    item._meeting_timezone = EWSTimeZone(fields.timezone)
    if item.recurrence is not None and fields.recurrence is not None:
        item.recurrence.pattern = _weekly(item.recurrence.pattern, fields.recurrence)
    assert isinstance(item, CalendarItem2007)
    return item


def occurrence_item(
    account: Any, occurrence_id: OccurrenceItemId, title: str, start: datetime, end: datetime, zone: str = ""
) -> CalendarItem2007:
    """A modified occurrence in UTC; it keeps its series' zone, so ``zone`` is not written."""
    item = connector.occurrence_item(account, occurrence_id, title, start, end, "UTC", CalendarItem2007)
    assert isinstance(item, CalendarItem2007)
    return item
