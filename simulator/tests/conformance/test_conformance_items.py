"""Calendar items as Exchange returns them, read through exchangelib in every EWS dialect.

Each test names the Microsoft page that documents the behaviour it checks.
"""

from __future__ import annotations

import datetime as dt

from exchangelib import Attendee, EWSDate, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.recurrence import (
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
)

from sim_support import Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
UTC = EWSTimeZone("UTC")


def zone(org: Org) -> EWSTimeZone:
    # A 2007 client sends its times in UTC and no MeetingTimeZone (see sim_support).
    return UTC if org.dialect == "exchange2007" else BERLIN


def at(org: Org, day: int, hour: int, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2030, 3, day, hour, minute, tzinfo=zone(org))


def save(org: Org, account, **fields):  # type: ignore[no-untyped-def]
    cls = calendar_item_class(org.dialect)
    fields.setdefault("subject", "Planning")
    fields.setdefault("start", at(org, 4, 10))
    fields.setdefault("end", at(org, 4, 11))
    item = cls(account=account, folder=account.calendar, **fields)
    item.save(send_meeting_invitations="SendToNone")
    return item


def series(org: Org, account, boundary, **fields):  # type: ignore[no-untyped-def]
    pattern = DailyPattern(interval=1)
    return save(
        org, account, subject="Daily", recurrence=Recurrence(pattern=pattern, boundary=boundary), **fields
    )


def is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


# --- recurrence dates ----------------------------------------------------------------------------
# RecurrenceRangeBaseType's StartDate and EndDate are xs:date; Exchange writes them with the zone
# offset of the series ("2016-01-01+01:00", "2016-01-01Z"), which clients read as dates. A bare
# date is read as a date-time (midnight UTC) by exchangelib.


def test_recurrence_range_dates_are_dates_on_read(org: Org) -> None:
    account = org.account()
    start = at(org, 4, 10).date()
    boundaries = [
        EndDatePattern(start=start, end=EWSDate(2030, 3, 8)),
        NumberedPattern(start=start, number=3),
        NoEndPattern(start=start),
    ]
    for boundary in boundaries:
        item = series(org, account, boundary)
        item.refresh()
        got = item.recurrence.boundary
        assert is_date(got.start) and got.start == start, (type(boundary).__name__, got.start)
        if isinstance(boundary, EndDatePattern):
            assert is_date(got.end) and got.end == EWSDate(2030, 3, 8), got.end


def test_recurrence_dates_in_a_calendar_view_and_by_id(org: Org) -> None:
    account = org.account()
    item = series(org, account, NumberedPattern(start=at(org, 4, 10).date(), number=3))
    fetched = account.calendar.get(id=item.id)
    assert is_date(fetched.recurrence.boundary.start)
    masters = list(account.calendar.filter(subject="Daily"))
    assert [is_date(m.recurrence.boundary.start) for m in masters] == [True]


def test_master_occurrence_information_reads_back(org: Org) -> None:
    account = org.account()
    master = series(org, account, NumberedPattern(start=at(org, 4, 10).date(), number=4))
    second = master.occurrence(index=2)
    second.refresh()
    second.subject = "Moved"
    second.save(update_fields=["subject"])
    third = master.occurrence(index=3)
    third.refresh()
    third.delete(send_meeting_cancellations="SendToNone")
    master.refresh()
    assert master.first_occurrence.start == at(org, 4, 10)
    assert master.first_occurrence.end == at(org, 4, 11)
    assert master.last_occurrence.start == at(org, 7, 10)
    assert [o.original_start for o in master.modified_occurrences] == [at(org, 5, 10)]
    assert [o.start for o in master.deleted_occurrences] == [at(org, 6, 10)]
    occurrence = master.occurrence(index=1)
    occurrence.refresh()
    assert occurrence.recurrence is None
    assert occurrence.original_start == at(org, 4, 10)


# --- IsRecurring ---------------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isrecurring
# Organizer: single FALSE, recurring master FALSE, exception TRUE; an attendee's master TRUE.


def test_is_recurring_as_exchange_sets_it(org: Org) -> None:
    account = org.account()
    single = save(org, account, subject="Single")
    master = series(
        org,
        account,
        NumberedPattern(start=at(org, 4, 10).date(), number=3),
        required_attendees=[Attendee(mailbox=Mailbox(email_address="bob@example.org"))],
    )
    master.save(update_fields=["subject"], send_meeting_invitations="SendToAllAndSaveCopy")
    single.refresh()
    master.refresh()
    assert single.is_recurring is False
    assert master.type == "RecurringMaster" and master.is_recurring is False
    occurrence = master.occurrence(index=1)
    occurrence.refresh()
    assert occurrence.type == "Occurrence" and occurrence.is_recurring is True
    exception = master.occurrence(index=2)
    exception.refresh()
    exception.subject = "Changed"
    exception.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    exception.refresh()
    assert exception.type == "Exception" and exception.is_recurring is True
    view = list(account.calendar.view(start=at(org, 1, 0), end=at(org, 31, 0)))
    assert {o.is_recurring for o in view if o.subject != "Single"} == {True}
    bob = org.account("bob@example.org")
    copies = [i for i in bob.calendar.all() if i.type == "RecurringMaster"]
    assert copies and all(c.is_recurring is True for c in copies)


# --- all-day items -------------------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-create-all-day-events-by-using-ews-in-exchange
# A non-midnight start moves to the midnight before, a non-midnight end to the midnight after, in
# the time zone of the request or appointment.


def test_all_day_times_move_to_midnight(org: Org) -> None:
    account = org.account()
    item = save(org, account, subject="Away", is_all_day=True, start=at(org, 4, 13), end=at(org, 5, 9, 30))
    raw = next(iter(account.calendar.filter(subject="Away").only("start", "end")))
    assert raw.start == at(org, 4, 0) and raw.end == at(org, 6, 0)
    item.refresh()
    assert item.is_all_day is True and (item.start, item.end) == (EWSDate(2030, 3, 4), EWSDate(2030, 3, 5))


def test_all_day_midnights_stay_and_updates_move_too(org: Org) -> None:
    account = org.account()
    item = save(org, account, subject="Holiday", is_all_day=True, start=at(org, 4, 0), end=at(org, 5, 0))
    raw = next(iter(account.calendar.filter(subject="Holiday").only("start", "end")))
    assert (raw.start, raw.end) == (at(org, 4, 0), at(org, 5, 0))
    later = save(org, account, subject="Later", start=at(org, 9, 10), end=at(org, 9, 11))
    later.is_all_day = True
    later.save(update_fields=["is_all_day"])
    raw = next(iter(account.calendar.filter(subject="Later").only("start", "end")))
    assert (raw.start, raw.end) == (at(org, 9, 0), at(org, 10, 0))
    assert item.id


# --- CalendarView boundaries ---------------------------------------------------------------------
# https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendarview
# "All calendar items that have an end time that is before StartDate will not be returned";
# "All calendar items that have a start time that is on or after EndDate will not be returned".


def test_calendar_view_boundaries(org: Org) -> None:
    account = org.account()
    save(org, account, subject="Ends at start", start=at(org, 4, 9), end=at(org, 4, 10))
    save(org, account, subject="Ends before", start=at(org, 4, 8), end=at(org, 4, 9, 59))
    save(org, account, subject="Inside", start=at(org, 4, 10), end=at(org, 4, 11))
    save(org, account, subject="Starts at end", start=at(org, 4, 12), end=at(org, 4, 13))
    save(org, account, subject="Ends at end", start=at(org, 4, 11), end=at(org, 4, 12))
    view = account.calendar.view(start=at(org, 4, 10), end=at(org, 4, 12))
    assert sorted(i.subject for i in view) == ["Ends at end", "Ends at start", "Inside"]


def test_calendar_view_boundaries_for_occurrences(org: Org) -> None:
    account = org.account()
    series(
        org,
        account,
        NumberedPattern(start=at(org, 4, 9).date(), number=3),
        start=at(org, 4, 9),
        end=at(org, 4, 10),
    )
    view = list(account.calendar.view(start=at(org, 5, 10), end=at(org, 6, 9)))
    assert [(o.type, o.start) for o in view] == [("Occurrence", at(org, 5, 9))]


# --- Subject -------------------------------------------------------------------------------------


def test_subject_of_255_characters_is_kept(org: Org) -> None:
    account = org.account()
    item = save(org, account, subject="s" * 255)
    item.refresh()
    assert item.subject == "s" * 255
