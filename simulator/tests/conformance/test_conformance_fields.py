"""The field sweep: every writable field of exchangelib's CalendarItem, in every EWS dialect.

The cases are generated from ``CalendarItem.FIELDS`` (writable fields, by the version each dialect
pins) plus one extended property per MAPI property type. Each case saves an item with the field
set, reads it back, finds it by the field where the field is searchable, changes the field, reads
it back again and deletes the item, so a field the simulator drops, mangles or cannot filter on
fails as its own case. A writable field exchangelib gains and this table lacks fails too.

What is expected back is what Exchange returns, not always what was sent; each such case names
the Microsoft page that documents the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from exchangelib import (
    Attendee,
    Body,
    CalendarItem,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    HTMLBody,
    Mailbox,
)
from exchangelib.fields import ExtendedPropertyField
from exchangelib.recurrence import (
    DailyPattern,
    EndDatePattern,
    NumberedPattern,
    Recurrence,
    WeeklyPattern,
)
from lxml import etree

from sim_support import DIALECTS, PINNED, Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
NEW_YORK = EWSTimeZone("America/New_York")
UTC = EWSTimeZone("UTC")
PROPERTY_SET = "c11ff724-aa03-4555-9952-8fa248a11c3e"


def zone(org: Org) -> EWSTimeZone:
    # A 2007 client sends its times in UTC and no MeetingTimeZone (see sim_support).
    return UTC if org.dialect == "exchange2007" else BERLIN


def at(org: Org, day: int, hour: int, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2030, 3, day, hour, minute, tzinfo=zone(org))


def writable(version: Any) -> list[str]:
    """exchangelib's own writable fields: extended properties another module registered on
    CalendarItem (roomsync's plugins do, when the whole suite runs in one process) are theirs to
    test; this sweep has its own extended property cases."""
    return [
        f.name
        for f in CalendarItem.FIELDS
        if f.supports_version(version) and not f.is_read_only and not isinstance(f, ExtendedPropertyField)
    ]


WRITABLE = {dialect: writable(version) for dialect, version in PINNED.items()}


# --- extended properties, one per property type --------------------------------------------------

EXTENDED: dict[str, tuple[str, Any, Any]] = {
    "String": ("ext_string", "Raum 1", "Raum 2"),
    "Integer": ("ext_integer", 42, -7),
    "Short": ("ext_short", 12, 13),
    "Long": ("ext_long", 2**40, 2**41 + 1),
    "Double": ("ext_double", Decimal("1.5"), Decimal("-2.25")),
    "Boolean": ("ext_boolean", True, False),
    "SystemTime": (
        "ext_systemtime",
        EWSDateTime(2030, 3, 4, 8, 0, tzinfo=UTC),
        EWSDateTime(2030, 3, 5, 9, 30, tzinfo=UTC),
    ),
    "Binary": ("ext_binary", b"\x00\x01rooms", b"\xff\xfe"),
    "CLSID": ("ext_clsid", "d1b2c3e4-0000-4000-8000-00000000000a", "d1b2c3e4-0000-4000-8000-00000000000b"),
    "StringArray": ("ext_stringarray", ["a", "b"], ["c"]),
    "IntegerArray": ("ext_integerarray", [1, 2, 3], [4]),
}


def extended_class(ptype: str) -> type[ExtendedProperty]:
    return type(
        f"Ext{ptype}",
        (ExtendedProperty,),
        {"property_set_id": PROPERTY_SET, "property_name": f"roomsync-{ptype}", "property_type": ptype},
    )


# --- the cases -----------------------------------------------------------------------------------


def _same(sent: Any, got: Any, org: Org) -> None:
    assert got == sent, (sent, got)


@dataclass
class Case:
    """How one field is driven: the value saved, the value it is changed to, and what is expected
    back (``check(sent, got, org)``); ``search`` gives filter() arguments for a value."""

    first: Callable[[Org], Any]
    second: Callable[[Org], Any]
    check: Callable[[Any, Any, Org], None] = _same
    search: Callable[[Any], dict[str, Any]] | None = None
    extra: Callable[[Org], dict[str, Any]] = lambda org: {}
    attr: str | None = None  # the item attribute, when it is not the case's name
    skip: str | None = None
    xfail: Callable[[Org], str | None] = lambda org: None
    after_read: Callable[[Any, Any, Org], None] | None = None  # more checks on the read item


def _eq(name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: {name: value}


def _const(value: Any) -> Callable[[Org], Any]:
    return lambda org: value


def _attendees(*addresses: str) -> Callable[[Org], list[Attendee]]:
    return lambda org: [Attendee(mailbox=Mailbox(email_address=a)) for a in addresses]


NAMES = {"bob@example.org": "Bob Brown", "carol@example.org": "Carol Clark", "room.1@example.org": "Room 1"}


def _check_attendees(sent: list[Attendee], got: list[Attendee] | None, org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsetype
    # Exchange resolves each attendee against the directory and, until the attendee answers,
    # reports the response as Unknown.
    assert got is not None
    expected = [(a.mailbox.email_address, NAMES[a.mailbox.email_address], "Unknown") for a in sent]
    assert [(a.mailbox.email_address, a.mailbox.name, a.response_type) for a in got] == expected


def _check_body(sent: Body, got: Any, org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/bodytype
    # exchangelib asks for the body with BodyType Best: Exchange answers in the body's own format,
    # and may wrap an HTML fragment in a document of its own (so the fragment is looked for).
    assert type(got) is type(sent), (type(sent), type(got))
    if isinstance(sent, HTMLBody):
        assert str(sent) in str(got)
    else:
        assert str(got).rstrip("\r\n") == str(sent)


def _text_body(sent: Body, item: Any, org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/textbody
    # From Exchange 2013, TextBody is the body converted to text, whatever its format.
    if org.dialect != "exchange2013":
        return
    text = "Agenda: rooms" if isinstance(sent, HTMLBody) else str(sent)
    assert item.text_body is not None and text in str(item.text_body), item.text_body


def _check_recurrence(sent: Recurrence, got: Recurrence | None, org: Org) -> None:
    assert got is not None
    assert type(got.pattern) is type(sent.pattern) and got.pattern.interval == sent.pattern.interval
    if isinstance(sent.pattern, WeeklyPattern):
        assert list(got.pattern.weekdays) == list(sent.pattern.weekdays)
    assert type(got.boundary) is type(sent.boundary) and got.boundary.start == sent.boundary.start
    for attr in ("number", "end"):
        if hasattr(sent.boundary, attr):
            assert getattr(got.boundary, attr) == getattr(sent.boundary, attr)


def _recurring_master(sent: Recurrence, item: Any, org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/isrecurring
    # The organizer's recurring master reads IsRecurring false (the page's table).
    assert item.type == "RecurringMaster" and item.is_recurring is False


def _check_all_day(sent: bool, got: Any, org: Org) -> None:
    assert got is sent


def _all_day_times(sent: bool, item: Any, org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-create-all-day-events-by-using-ews-in-exchange
    # An all-day item's start moves to the midnight before, its end to the midnight after.
    if sent:
        assert (item.start, item.end) == (EWSDate(2030, 3, 4), EWSDate(2030, 3, 5))


def _check_instant(sent: EWSDateTime, got: EWSDateTime, org: Org) -> None:
    # Exchange stores times as instants (UTC) and returns them in UTC; the zone the client sent
    # them in is kept apart (StartTimeZone/EndTimeZone, MeetingTimeZone).
    assert isinstance(got, dt.datetime) and got == sent, (sent, got)


def _check_zone(sent: EWSTimeZone, got: EWSTimeZone | None, org: Org) -> None:
    assert got is not None and got.key == sent.key, (sent, got)


def _pattern(org: Org, weekly: bool = False) -> Recurrence:
    start = at(org, 4, 10).date()
    if weekly and org.dialect == "exchange2007":
        # exchangelib writes WeeklyRecurrence/FirstDayOfWeek, which the 2007 schema lacks.
        return Recurrence(
            pattern=DailyPattern(interval=2), boundary=EndDatePattern(start=start, end=EWSDate(2030, 4, 30))
        )
    if weekly:
        return Recurrence(
            pattern=WeeklyPattern(interval=2, weekdays=[1, 3]),
            boundary=EndDatePattern(start=start, end=EWSDate(2030, 4, 30)),
        )
    return Recurrence(pattern=DailyPattern(interval=1), boundary=NumberedPattern(start=start, number=3))


CASES: dict[str, Case] = {
    "mime_content": Case(
        _const(None),
        _const(None),
        skip="exchangelib sends MimeContent only when creating an item, and Exchange then builds the "
        "item from the MIME; it is not a property to sweep",
    ),
    "attachments": Case(
        _const(None),
        _const(None),
        skip="exchangelib saves attachments with CreateAttachment after the item, not as a field",
    ),
    "subject": Case(_const("Planning"), _const("Planning, moved"), search=_eq("subject")),
    "sensitivity": Case(_const("Private"), _const("Confidential"), search=_eq("sensitivity")),
    "body[text]": Case(
        _const(Body("Agenda: rooms")),
        _const(Body("Agenda: rooms and catering")),
        check=_check_body,
        search=lambda v: {"body__contains": "catering" if "catering" in v else "Agenda"},
        attr="body",
        after_read=_text_body,
    ),
    "body[html]": Case(
        _const(HTMLBody("<p><b>Agenda:</b> rooms</p>")),
        _const(HTMLBody("<p><b>Agenda:</b> rooms and catering</p>")),
        check=_check_body,
        search=lambda v: {"body__contains": "catering" if "catering" in v else "Agenda"},
        attr="body",
        after_read=_text_body,
    ),
    "categories": Case(
        _const(["Red", "Blue"]), _const(["Green"]), search=lambda v: {"categories__contains": [v[0]]}
    ),
    "importance": Case(_const("High"), _const("Low"), search=_eq("importance")),
    "in_reply_to": Case(_const("<a1@example.org>"), _const("<a2@example.org>"), search=_eq("in_reply_to")),
    "reminder_due_by": Case(
        lambda org: EWSDateTime(2030, 3, 4, 8, 0, tzinfo=UTC),
        lambda org: EWSDateTime(2030, 3, 4, 9, 0, tzinfo=UTC),
        check=_check_instant,
    ),
    "reminder_is_set": Case(_const(False), _const(True), search=_eq("reminder_is_set")),
    "reminder_minutes_before_start": Case(_const(30), _const(5), search=_eq("reminder_minutes_before_start")),
    "culture": Case(_const("de-DE"), _const("fr-FR")),
    "uid": Case(_const("roomsync-uid-0001"), _const("roomsync-uid-0002")),
    "start": Case(
        lambda org: at(org, 4, 10), lambda org: at(org, 4, 9), check=_check_instant, search=_eq("start")
    ),
    "end": Case(
        lambda org: at(org, 4, 11), lambda org: at(org, 4, 12), check=_check_instant, search=_eq("end")
    ),
    "is_all_day": Case(
        _const(True),
        _const(False),
        check=_check_all_day,
        search=_eq("is_all_day"),
        extra=lambda org: {"start": at(org, 4, 13), "end": at(org, 5, 9, 30)},
        after_read=_all_day_times,
    ),
    "legacy_free_busy_status": Case(
        _const("Tentative"), _const("OOF"), search=_eq("legacy_free_busy_status")
    ),
    "location": Case(_const("Room 1"), _const("Room 2"), search=_eq("location")),
    "when": Case(_const("Mondays at ten"), _const("Tuesdays at nine"), search=_eq("when")),
    "is_response_requested": Case(_const(False), _const(True)),
    "required_attendees": Case(
        _attendees("bob@example.org"),
        _attendees("bob@example.org", "carol@example.org"),
        check=_check_attendees,
    ),
    "optional_attendees": Case(
        _attendees("carol@example.org"), _attendees("bob@example.org"), check=_check_attendees
    ),
    "resources": Case(
        _attendees("room.1@example.org"), _attendees("room.1@example.org"), check=_check_attendees
    ),
    "recurrence": Case(
        lambda org: _pattern(org),
        lambda org: _pattern(org, weekly=True),
        check=_check_recurrence,
        after_read=_recurring_master,
    ),
    "_meeting_timezone": Case(
        _const(None),
        _const(None),
        skip="exchangelib writes MeetingTimeZone with an Id the 2007 schema lacks and cannot read "
        "2007's TimeZoneName (see sim_support)",
    ),
    "_start_timezone": Case(
        _const(NEW_YORK),
        _const(BERLIN),
        check=_check_zone,
    ),
    "_end_timezone": Case(
        _const(NEW_YORK),
        _const(BERLIN),
        check=_check_zone,
    ),
    # exchangelib keeps ConferenceType as the 1-based index of its names (NetMeeting, NetShow,
    # Chat) and sends that number; EWS numbers them from 0. The number round-trips either way.
    "conference_type": Case(_const(1), _const(2), search=_eq("conference_type")),
    "allow_new_time_proposal": Case(_const(False), _const(True)),
    "meeting_workspace_url": Case(
        _const("https://ws.example.org/a"),
        _const("https://ws.example.org/b"),
        search=_eq("meeting_workspace_url"),
    ),
    "net_show_url": Case(
        _const("https://show.example.org/a"), _const("https://show.example.org/b"), search=_eq("net_show_url")
    ),
    **{
        f"extended[{ptype}]": Case(
            _const(first), _const(second), search=_eq(attr) if "Array" not in ptype else None, attr=attr
        )
        for ptype, (attr, first, second) in EXTENDED.items()
    },
}


def case_names() -> list[str]:
    names: list[str] = []
    for fields in WRITABLE.values():
        for name in fields:
            for case in ["body[text]", "body[html]"] if name == "body" else [name]:
                if case not in names:
                    names.append(case)
    return names + [f"extended[{ptype}]" for ptype in EXTENDED]


def test_every_writable_field_has_a_case() -> None:
    assert [n for n in case_names() if n not in CASES] == []


@pytest.fixture
def item_class(org: Org) -> Iterator[type[CalendarItem]]:
    cls = calendar_item_class(org.dialect)
    for ptype, (attr, _, _) in EXTENDED.items():
        cls.register(attr, extended_class(ptype))
    try:
        yield cls
    finally:
        for attr, _, _ in EXTENDED.values():
            cls.deregister(attr)


def _field_of(name: str) -> str:
    return name.split("[")[0] if name.startswith("body") else name


def _set(item: Any, name: str, case: Case, value: Any) -> list[str]:
    """Put ``value`` on the item; the fields exchangelib must send for it."""
    attr = case.attr or name
    setattr(item, attr, value)
    return [attr]


def _get(item: Any, name: str, case: Case) -> Any:
    return getattr(item, case.attr or name)


def _read(account: Any, item: Any, name: str, case: Case, sent: Any, org: Org) -> None:
    item.refresh()
    case.check(sent, _get(item, name, case), org)
    if case.after_read is not None:
        case.after_read(sent, item, org)


def _found(account: Any, item: Any, case: Case, value: Any) -> None:
    if case.search is None:
        return
    found = [i.id for i in account.calendar.filter(**case.search(value)).only("subject")]
    assert item.id in found, case.search(value)


@pytest.mark.parametrize("name", case_names())
def test_field_round_trip(org: Org, item_class: type[CalendarItem], name: str) -> None:
    case = CASES[name]
    if case.skip:
        pytest.skip(case.skip)
    if not name.startswith("extended") and _field_of(name) not in WRITABLE[org.dialect]:
        pytest.skip(f"exchangelib's CalendarItem has no writable {name} for {org.dialect}")
    reason = case.xfail(org)
    if reason:
        pytest.xfail(reason)
    account = org.account()
    fields: dict[str, Any] = {"subject": "Sweep", "start": at(org, 4, 10), "end": at(org, 4, 11)}
    fields.update(case.extra(org))
    item = item_class(account=account, folder=account.calendar, **fields)
    first = case.first(org)
    _set(item, name, case, first)
    item.save(send_meeting_invitations="SendToNone")
    _read(account, item, name, case, first, org)
    _found(account, item, case, first)

    second = case.second(org)
    changed = _set(item, name, case, second)
    item.save(update_fields=changed, send_meeting_invitations="SendToNone")
    _read(account, item, name, case, second, org)
    _found(account, item, case, second)

    item.delete(send_meeting_cancellations="SendToNone")
    assert item.id not in [i.id for i in account.calendar.all().only("subject")]


# --- defaults ------------------------------------------------------------------------------------
# exchangelib always sends ReminderIsSet, ReminderMinutesBeforeStart, Sensitivity, Importance and
# IsAllDayEvent, so the defaults are asked of a CreateItem that names only a subject and times.

CREATE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Header><t:RequestServerVersion Version="{version}"/></s:Header>
<s:Body><m:CreateItem SendMeetingInvitations="SendToNone">
<m:Items><t:CalendarItem><t:Subject>Bare</t:Subject>{body}
<t:Start>2030-03-04T09:00:00Z</t:Start><t:End>2030-03-04T10:00:00Z</t:End>
</t:CalendarItem></m:Items></m:CreateItem></s:Body></s:Envelope>"""
API = {"exchange2007": "Exchange2007_SP1", "exchange2010": "Exchange2010_SP2", "exchange2013": "Exchange2016"}


def _create_raw(org: Org, body: str = "") -> None:
    response = requests.post(
        org.running.ews_url,
        data=CREATE.format(version=API[org.dialect], body=body).encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=("alice@example.org", "alice-pw"),
        timeout=30,
    )
    assert response.status_code == 200 and "NoError" in response.text, response.text


def test_defaults_of_a_new_item(org: Org) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/reminderminutesbeforestart
    # A new appointment has its reminder set, 15 minutes before its start; it is Normal, Busy and
    # not all-day. IsOnlineMeeting (read-only in exchangelib, which cannot send it) reads false.
    _create_raw(org)
    account = org.account()
    item = account.calendar.get(subject="Bare")
    assert (item.reminder_minutes_before_start, item.reminder_is_set) == (15, True)
    assert (item.importance, item.sensitivity, item.legacy_free_busy_status) == ("Normal", "Normal", "Busy")
    assert item.is_all_day is False and item.is_online_meeting in (False, None)


@pytest.mark.parametrize("asked", ["Best", "Text", "HTML"])
def test_body_in_the_type_asked_for(org: Org, asked: str) -> None:
    # https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/bodytype
    # GetItem's BodyType: Best gives the stored format, Text and HTML a conversion.
    _create_raw(org, '<t:Body BodyType="HTML">&lt;p&gt;&lt;b&gt;Agenda:&lt;/b&gt; rooms&lt;/p&gt;</t:Body>')
    item_id = org.account().calendar.get(subject="Bare").id
    shape = f"<t:BaseShape>IdOnly</t:BaseShape><t:BodyType>{asked}</t:BodyType>"
    shape += '<t:AdditionalProperties><t:FieldURI FieldURI="item:Body"/></t:AdditionalProperties>'
    request = CREATE.split("<s:Body>")[0].format(version=API[org.dialect]) + (
        f'<s:Body><m:GetItem><m:ItemShape>{shape}</m:ItemShape><m:ItemIds><t:ItemId Id="{item_id}"/>'
        "</m:ItemIds></m:GetItem></s:Body></s:Envelope>"
    )
    response = requests.post(
        org.running.ews_url,
        data=request.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=("alice@example.org", "alice-pw"),
        timeout=30,
    )
    body = etree.fromstring(response.content).find(".//{*}Body/{*}GetItemResponse//{*}Body")
    assert body is not None, response.text
    assert body.get("BodyType") == ("HTML" if asked == "Best" else asked)
    if asked == "Text":
        assert "Agenda: rooms" in (body.text or "") and "<" not in (body.text or "")
    else:
        assert "<b>Agenda:</b> rooms" in (body.text or "")


assert set(DIALECTS) == set(WRITABLE)
