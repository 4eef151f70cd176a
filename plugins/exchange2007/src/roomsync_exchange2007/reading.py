"""GetItem for Exchange 2007: named fields, parsed as :class:`~roomsync_exchange2007.items.CalendarItem2007`.

exchangelib asks for every field it believes a version has; a 2007 client names what it reads,
which keeps each request inside the 2007 schema and the answers small. The answers are parsed
with the 2007 item class, so ``MeetingTimeZone`` is read from ``TimeZoneName``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.services import GetItem

from roomsync_ews_common import stamp as props
from roomsync_exchange2007.items import CalendarItem2007

READ_FIELDS = (
    "subject",
    "start",
    "end",
    "_meeting_timezone",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "resources",
    "reminder_is_set",
    "reminder_minutes_before_start",
    "sensitivity",
    "legacy_free_busy_status",
    "body",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
    "last_modified_time",
    "uid",
    props.STAMP,
    props.TIMEZONE,
    props.SETUP,
    props.FOLLOWUP,
    props.ADDIN,
)
"""Every field :func:`roomsync_ews_common.mapping.to_entry` reads (id and change key come always).

``IsAllDayEvent`` is left out on purpose: exchangelib turns the times of an all-day item into
dates, and an entry is read as the instants it covers."""


class GetCalendarItems(GetItem):
    """GetItem whose calendar items are :class:`CalendarItem2007`."""

    def _elem_to_obj(self, elem: Any) -> Any:
        if elem.tag == CalendarItem2007.response_tag():
            return CalendarItem2007.from_xml(elem=elem, account=self.account)
        return super()._elem_to_obj(elem)


def fetch(account: Any, ids: list[Any], chunk_size: int) -> Iterator[Any]:
    """The items (or the error for each) in the order of ``ids``, ``chunk_size`` per request."""
    if not ids:
        return iter(())
    fields = {FieldPath(field=CalendarItem2007.get_field_by_fieldname(name)) for name in READ_FIELDS}
    service = GetCalendarItems(account=account, chunk_size=chunk_size)
    return iter(service.call(items=ids, additional_fields=fields, shape=ID_ONLY))
