"""Calendar items through exchangelib: create, read, views, search, update, delete, sync."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from exchangelib import Attendee, CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty, HTMLBody, Mailbox
from exchangelib.errors import ErrorInvalidSyncStateData, ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence, WeeklyPattern

from sim_support import Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")


class RoomsId(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "RoomsReservationId"
    property_type = "String"


@pytest.fixture(scope="module", autouse=True)
def _rooms_id() -> object:
    CalendarItem.register("rooms_id", RoomsId)
    yield
    CalendarItem.deregister("rooms_id")


def at(day: int, hour: int) -> EWSDateTime:
    return EWSDateTime(2024, 3, day, hour, 0, tzinfo=BERLIN)


def new_item(org: Org, account, **fields):  # type: ignore[no-untyped-def]
    cls = calendar_item_class(org.dialect)
    fields.setdefault("subject", "Planning")
    fields.setdefault("start", at(4, 10))
    fields.setdefault("end", at(4, 11))
    item = cls(account=account, folder=account.calendar, **fields)
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    return item


def test_create_and_read_back(org: Org) -> None:
    account = org.account()
    item = new_item(
        org,
        account,
        location="Room 1",
        reminder_minutes_before_start=30,
        sensitivity="Private",
        legacy_free_busy_status="Tentative",
        body=HTMLBody("<p>Agenda</p>"),
        required_attendees=[Attendee(mailbox=Mailbox(email_address="bob@example.org"))],
        resources=[Attendee(mailbox=Mailbox(email_address="room.1@example.org"))],
        rooms_id="R-42",
    )
    got = account.calendar.get(id=item.id)
    assert (got.subject, got.location, got.reminder_minutes_before_start) == ("Planning", "Room 1", 30)
    assert (got.sensitivity, got.legacy_free_busy_status, got.body) == (
        "Private",
        "Tentative",
        "<p>Agenda</p>",
    )
    assert got.start == at(4, 10) and got.end == at(4, 11)
    assert got.rooms_id == "R-42"
    assert [a.mailbox.email_address for a in got.required_attendees] == ["bob@example.org"]
    assert [a.mailbox.name for a in got.resources] == ["Room 1"]
    assert got.organizer.email_address == "alice@example.org"
    assert got.uid and got.changekey == item.changekey and got.type == "Single"


def test_time_zone_elements_per_dialect(org: Org) -> None:
    account = org.account()
    item = new_item(org, account)
    got = account.calendar.get(id=item.id)
    if org.dialect == "exchange2007":
        assert got._start_timezone is None
    else:
        assert got._start_timezone == BERLIN and got._end_timezone == BERLIN


def test_exchangelib_meeting_time_zone_is_refused_by_2007(org: Org) -> None:
    if org.dialect != "exchange2007":
        pytest.skip("a 2007 schema rule")
    from exchangelib.errors import ErrorSchemaValidation

    account = org.account()
    org.expect_refusal()
    with pytest.raises(ErrorSchemaValidation, match="'Id' attribute is not declared"):
        CalendarItem(
            account=account, folder=account.calendar, subject="x", start=at(4, 10), end=at(4, 11)
        ).save(send_meeting_invitations="SendToNone")


def test_2007_refuses_start_time_zone(org: Org) -> None:
    from test_sim_protocol import AUTH, envelope

    item = (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem><t:Subject>x</t:Subject>'
        "<t:Start>2024-03-04T09:00:00Z</t:Start><t:End>2024-03-04T10:00:00Z</t:End>"
        '<t:StartTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>'
    )
    version = "Exchange2007_SP1" if org.dialect == "exchange2007" else "Exchange2010"
    if org.dialect == "exchange2007":
        org.expect_refusal()
    resp = requests.post(org.running.ews_url, data=envelope(item, version), headers=AUTH, timeout=5)
    if org.dialect == "exchange2007":
        assert resp.status_code == 500
        assert "ErrorSchemaValidation" in resp.text
        assert "invalid child element 'StartTimeZone'" in resp.text
    else:
        assert resp.status_code == 200 and 'ResponseClass="Success"' in resp.text


def weekly_series(org: Org, account):  # type: ignore[no-untyped-def]
    # exchangelib always writes WeeklyRecurrence/FirstDayOfWeek, a 2010 element: on 2007 a daily
    # pattern of seven days makes the same series.
    pattern = (
        WeeklyPattern(interval=1, weekdays=["Monday"])
        if org.dialect != "exchange2007"
        else DailyPattern(interval=7)
    )
    return new_item(
        org,
        account,
        subject="Weekly",
        recurrence=Recurrence(pattern=pattern, boundary=NumberedPattern(start=at(4, 10).date(), number=5)),
    )


def test_recurring_series_in_calendar_views(org: Org) -> None:
    account = org.account()
    master = weekly_series(org, account)
    single = new_item(org, account, subject="Single", start=at(6, 9), end=at(6, 10))
    occurrences = list(account.calendar.view(start=at(1, 0), end=at(31, 0)))
    assert [o.subject for o in occurrences] == ["Weekly", "Single", "Weekly", "Weekly", "Weekly"]
    weekly = [o for o in occurrences if o.subject == "Weekly"]
    assert [o.start.astimezone(BERLIN).hour for o in weekly] == [10, 10, 10, 10]
    assert {o.type for o in weekly} == {"Occurrence"}
    second = master.occurrence(index=2)
    second.refresh()
    second.subject = "Moved"
    second.start, second.end = at(12, 14), at(12, 15)
    second.save(update_fields=["subject", "start", "end"] if org.dialect != "exchange2007" else ["subject"])
    third = master.occurrence(index=3)
    third.refresh()
    third.delete(send_meeting_cancellations="SendToNone")
    view = list(account.calendar.view(start=at(1, 0), end=EWSDateTime(2024, 4, 30, tzinfo=BERLIN)))
    subjects = [o.subject for o in view]
    assert subjects.count("Weekly") == 3 and "Moved" in subjects
    moved = next(o for o in view if o.subject == "Moved")
    assert moved.type == "Exception"
    fresh = account.calendar.get(id=master.id)
    assert fresh.type == "RecurringMaster"
    assert len(fresh.deleted_occurrences) == 1 and len(fresh.modified_occurrences) == 1
    assert single.id in {o.id for o in view}
    if org.dialect != "exchange2007":
        # the series crosses the start of summer time (31 March) and stays at 10:00 local time
        last = max((o for o in view if o.subject == "Weekly"), key=lambda o: o.start)
        assert last.start.astimezone(BERLIN).hour == 10 and last.start.month == 4


def test_find_by_extended_property(org: Org) -> None:
    account = org.account()
    new_item(org, account, subject="A", rooms_id="R-1")
    b = new_item(org, account, subject="B", rooms_id="R-2")
    new_item(org, account, subject="C")
    found = list(account.calendar.filter(rooms_id="R-2"))
    assert [f.id for f in found] == [b.id]
    assert {f.subject for f in account.calendar.filter(rooms_id__exists=True)} == {"A", "B"}
    assert {f.subject for f in account.calendar.filter(subject="c")} == {"C"}


def test_paging(org: Org) -> None:
    account = org.account()
    for i in range(7):
        new_item(org, account, subject=f"S{i}")
    subjects = [i.subject for i in account.calendar.all().only("subject").order_by("subject")]
    assert subjects == [f"S{i}" for i in range(7)]
    assert [i.subject for i in account.calendar.all().order_by("-subject")[:3]] == ["S6", "S5", "S4"]


def test_update_and_stale_change_key(org: Org) -> None:
    account = org.account()
    item = new_item(org, account, rooms_id="R-9")
    first = account.calendar.get(id=item.id)
    second = account.calendar.get(id=item.id)
    first.subject = "Renamed"
    first.save(update_fields=["subject"])
    assert first.changekey != second.changekey
    second.subject = "Other"
    with pytest.raises(ErrorIrresolvableConflict):
        second.save(update_fields=["subject"])
    first.location = "Room 2"
    first.rooms_id = "R-10"
    first.save(update_fields=["location", "rooms_id"])
    first.reminder_minutes_before_start = 5
    first.save(update_fields=["reminder_minutes_before_start"])
    got = account.calendar.get(id=item.id)
    assert (got.subject, got.location, got.rooms_id, got.reminder_minutes_before_start) == (
        "Renamed",
        "Room 2",
        "R-10",
        5,
    )
    got.location = None
    got.save(update_fields=["location"])
    assert account.calendar.get(id=item.id).location is None


@pytest.mark.parametrize("how", ["HardDelete", "SoftDelete", "MoveToDeletedItems"])
def test_delete(org: Org, how: str) -> None:
    account = org.account()
    item = new_item(org, account, subject=f"gone by {how}")
    item_id = item.id
    assert account.bulk_delete([item], delete_type=how, send_meeting_cancellations="SendToNone") == [True]
    with pytest.raises(ErrorItemNotFound):
        account.calendar.get(id=item_id)
    assert account.calendar.total_count == 0
    in_trash = [i.subject for i in account.trash.all().only("subject")]
    assert in_trash == ([f"gone by {how}"] if how == "MoveToDeletedItems" else [])


def test_sync_items(org: Org) -> None:
    account = org.account()
    a = new_item(org, account, subject="A")
    b = new_item(org, account, subject="B")
    changes = list(account.calendar.sync_items())
    assert sorted((kind, item.subject) for kind, item in changes) == [("create", "A"), ("create", "B")]
    state = account.calendar.item_sync_state
    a.subject = "A2"
    a.save(update_fields=["subject"])
    b_id = b.id
    b.delete(send_meeting_cancellations="SendToNone")
    transient = new_item(org, account, subject="T")
    transient.delete(send_meeting_cancellations="SendToNone")
    new_item(org, account, subject="C")
    account.calendar.item_sync_state = state
    changes = list(account.calendar.sync_items(only_fields=["subject"]))
    kinds = sorted(
        (kind, getattr(item, "subject", None) if kind != "delete" else item.id) for kind, item in changes
    )
    assert kinds == [("create", "C"), ("delete", b_id), ("update", "A2")]
    assert list(account.calendar.sync_items()) == []
    account.calendar.item_sync_state = "bm90IGEgc3RhdGU="
    with pytest.raises(ErrorInvalidSyncStateData):
        list(account.calendar.sync_items())


def test_sync_pages_with_max_changes(org: Org) -> None:
    account = org.account()
    for i in range(5):
        new_item(org, account, subject=f"P{i}")
    seen = [item.subject for _, item in account.calendar.sync_items(max_changes_returned=2)]
    assert sorted(seen) == [f"P{i}" for i in range(5)]
    assert org.sim.counts["SyncFolderItems"] == 3


def test_created_item_round_trips_time_window(org: Org) -> None:
    account = org.account()
    item = new_item(org, account, start=at(4, 23), end=at(5, 1))
    found = list(account.calendar.view(start=at(5, 0), end=at(5, 12)))
    assert [f.id for f in found] == [item.id]
    # an item ending at the view's start is in it (only items ending before StartDate are not)
    assert [f.id for f in account.calendar.view(start=at(5, 1), end=at(5, 12))] == [item.id]
    assert list(account.calendar.view(start=at(5, 2), end=at(5, 12))) == []
    assert dt.timedelta(hours=2) == found[0].end - found[0].start
