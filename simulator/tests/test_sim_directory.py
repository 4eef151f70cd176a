"""Directory, availability and time zones through exchangelib: ResolveNames, ExpandDL, rooms,
ConvertId, GetServerTimeZones and GetUserAvailability (free/busy), in every dialect that has them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import requests
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorInvalidIdMalformed,
    ErrorMailRecipientNotFound,
    ErrorNameResolutionNoResults,
)
from exchangelib.properties import AlternateId
from lxml import etree

from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, SEED, Org, calendar_item_class

BERLIN = EWSTimeZone("Europe/Berlin")
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"

DIR_SEED = {
    **SEED,
    "rooms": [
        {"smtp": "room.1@example.org", "name": "Room 1", "time_zone": "W. Europe Standard Time"},
        {"smtp": "room.2@example.org", "name": "Room 2"},
    ],
    "distribution_lists": [
        {
            "smtp": "team@example.org",
            "name": "Team",
            "members": ["alice@example.org", "managers@example.org"],
        },
        {"smtp": "managers@example.org", "name": "Managers", "members": ["carol@example.org"]},
    ],
    "room_lists": [{"smtp": "building.a@example.org", "name": "Building A", "rooms": ["room.1@example.org"]}],
}


@pytest.fixture(params=DIALECTS)
def dorg(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, DIR_SEED, validate=True) as running:
        o = Org(running, request.param)
        try:
            yield o
        finally:
            o.close()
        bad = [v for v in running.simulator.violations]
        assert len(bad) <= o.expected_refusals, f"schema violations: {bad}"


def at(day: int, hour: int, minute: int = 0) -> EWSDateTime:
    return EWSDateTime(2024, 3, day, hour, minute, tzinfo=BERLIN)


def test_resolve_names(dorg: Org) -> None:
    protocol = dorg.account().protocol
    [alice] = protocol.resolve_names(["alice"])
    assert (alice.email_address, alice.name) == ("alice@example.org", "Alice Adams")
    [exact] = protocol.resolve_names(["SMTP:room.1@example.org"])
    assert exact.name == "Room 1"
    rooms = protocol.resolve_names(["room."])  # ambiguous: every candidate, as a warning
    assert sorted(r.email_address for r in rooms) == ["room.1@example.org", "room.2@example.org"]
    [nobody] = protocol.resolve_names(["zebra"])
    assert isinstance(nobody, ErrorNameResolutionNoResults)
    [(mailbox, contact)] = protocol.resolve_names(["Brown"], return_full_contact_data=True)
    assert mailbox.email_address == "bob@example.org" and contact.display_name == "Bob Brown"
    [team] = protocol.resolve_names(["team@example.org"])
    if dorg.dialect != "exchange2007":
        assert team.mailbox_type == "PublicDL"


def test_expand_dl(dorg: Org) -> None:
    protocol = dorg.account().protocol
    members = protocol.expand_dl("team@example.org")
    assert [m.email_address for m in members] == ["alice@example.org", "managers@example.org"]
    if dorg.dialect != "exchange2007":
        assert [m.mailbox_type for m in members] == ["Mailbox", "PublicDL"]
    assert [m.email_address for m in protocol.expand_dl("managers@example.org")] == ["carol@example.org"]
    with pytest.raises(ErrorNameResolutionNoResults):
        protocol.expand_dl("nobody@example.org")


def test_room_lists_and_rooms(dorg: Org) -> None:
    protocol = dorg.account().protocol
    if dorg.dialect == "exchange2007":
        for op in ("GetRoomLists", "GetServerTimeZones"):
            body = f'<m:{op} xmlns:m="{M}"/>'
            resp = _raw(dorg, body, "Exchange2007_SP1")
            assert (
                resp.status_code == 500 and "Server did not recognize the value of HTTP Header" in resp.text
            )
        return
    [room_list] = list(protocol.get_roomlists())
    assert (room_list.email_address, room_list.name) == ("building.a@example.org", "Building A")
    [room] = list(protocol.get_rooms("building.a@example.org"))
    assert (room.email_address, room.name) == ("room.1@example.org", "Room 1")


def test_convert_id(dorg: Org) -> None:
    account = dorg.account()
    item = calendar_item_class(dorg.dialect)(
        account=account, folder=account.calendar, subject="x", start=at(4, 10), end=at(4, 11)
    )
    item.save(send_meeting_invitations="SendToNone")
    seen = {}
    for fmt in ("EntryId", "HexEntryId", "EwsLegacyId", "OwaId", "StoreId"):
        [converted] = list(
            account.protocol.convert_ids(
                [AlternateId(id=item.id, format="EwsId", mailbox=account.primary_smtp_address)], fmt
            )
        )
        assert converted.format == fmt and converted.id != item.id
        seen[fmt] = converted.id
        [back] = list(
            account.protocol.convert_ids(
                [AlternateId(id=converted.id, format=fmt, mailbox=account.primary_smtp_address)], "EwsId"
            )
        )
        assert back.id == item.id
    assert seen["HexEntryId"] == bytes(__import__("base64").b64decode(seen["EntryId"])).hex().upper()
    [bad] = list(
        account.protocol.convert_ids(
            [AlternateId(id="DUMMY", format="EwsId", mailbox="x@example.org")], "EntryId"
        )
    )
    assert isinstance(bad, ErrorInvalidIdMalformed)


def test_server_time_zones(dorg: Org) -> None:
    if dorg.dialect == "exchange2007":
        pytest.skip("GetServerTimeZones arrived with Exchange 2010 (refusal: test_room_lists_and_rooms)")
    protocol = dorg.account().protocol
    every = list(protocol.get_timezones())
    assert len(every) > 100 and all(z.periods is None for z in every)
    [berlin] = list(protocol.get_timezones([BERLIN], return_full_timezone_data=True))
    assert berlin.id == "W. Europe Standard Time"
    std, dst, period = berlin.get_std_and_dst(for_year=2024)
    assert period.bias_in_minutes == -60 and dst.bias == -60
    assert (dst.iso_month, dst.occurrence, dst.weekday, dst.time) == (3, 5, 7, dt.time(2))
    assert (std.iso_month, std.occurrence, std.time) == (10, 5, dt.time(3))
    [ny] = list(protocol.get_timezones([EWSTimeZone("America/New_York")], return_full_timezone_data=True))
    std, dst, period = ny.get_std_and_dst(for_year=2024)
    assert period.bias_in_minutes == 300 and (dst.iso_month, dst.occurrence) == (3, 2)
    [kolkata] = list(protocol.get_timezones([EWSTimeZone("Asia/Kolkata")], return_full_timezone_data=True))
    assert kolkata.get_std_and_dst(for_year=2024)[2].bias_in_minutes == -330


def _raw(org: Org, body: str, version: str) -> requests.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{T}" xmlns:m="{M}"><s:Header><t:RequestServerVersion Version="{version}"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return requests.post(
        org.running.ews_url, data=envelope.encode(), auth=("alice@example.org", "alice-pw"), timeout=5
    )


def _book(org: Org, subject: str, start: EWSDateTime, end: EWSDateTime, status: str = "Busy") -> None:
    account = org.account()
    item = calendar_item_class(org.dialect)(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=end,
        legacy_free_busy_status=status,
    )
    item.save(send_meeting_invitations="SendToNone")


BERLIN_TZ = (
    "<t:TimeZone><t:Bias>-60</t:Bias>"
    "<t:StandardTime><t:Bias>0</t:Bias><t:Time>03:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>10</t:Month>"
    "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime>"
    "<t:DaylightTime><t:Bias>-60</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>3</t:Month>"
    "<t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>"
)


def _availability(
    addresses: list[str], start: str, end: str, view: str = "DetailedMerged", interval: int = 60
) -> str:
    data = "".join(
        f"<t:MailboxData><t:Email><t:Address>{a}</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType>"
        "</t:MailboxData>"
        for a in addresses
    )
    return (
        f"<m:GetUserAvailabilityRequest>{BERLIN_TZ}<m:MailboxDataArray>{data}</m:MailboxDataArray>"
        f"<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>{start}</t:StartTime><t:EndTime>{end}</t:EndTime>"
        f"</t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>{interval}</t:MergedFreeBusyIntervalInMinutes>"
        f"<t:RequestedView>{view}</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>"
    )


def test_free_busy(dorg: Org) -> None:
    _book(dorg, "Busy one", at(4, 9), at(4, 10))
    _book(dorg, "Maybe", at(4, 11), at(4, 11, 30), "Tentative")
    _book(dorg, "Away", at(4, 14), at(4, 15), "OOF")
    if dorg.dialect == "exchange2007":
        # no GetServerTimeZones: the request names its zone itself (what the 2007 plugin does)
        resp = _raw(
            dorg,
            _availability(
                ["alice@example.org", "ghost@example.org", "bob@example.org"],
                "2024-03-04T08:00:00",
                "2024-03-04T16:00:00",
            ),
            "Exchange2007_SP1",
        )
        assert resp.status_code == 200, resp.text
        root = etree.fromstring(resp.content)
        responses = root.findall(f".//{{{M}}}FreeBusyResponse")
        codes = [r.findtext(f"{{{M}}}ResponseMessage/{{{M}}}ResponseCode") for r in responses]
        assert codes == ["NoError", "ErrorMailRecipientNotFound", "NoError"]
        view = responses[0].find(f"{{{M}}}FreeBusyView")
        assert view.findtext(f"{{{T}}}MergedFreeBusy") == "02010030"
        events = view.findall(f".//{{{T}}}CalendarEvent")
        assert [(e.findtext(f"{{{T}}}StartTime"), e.findtext(f"{{{T}}}BusyType")) for e in events] == [
            ("2024-03-04T09:00:00", "Busy"),
            ("2024-03-04T11:00:00", "Tentative"),
            ("2024-03-04T14:00:00", "OOF"),
        ]
        assert events[0].findtext(f"{{{T}}}CalendarEventDetails/{{{T}}}Subject") == "Busy one"
        return
    protocol = dorg.account().protocol
    start, end = at(4, 8), at(4, 16)
    alice, ghost, bob = protocol.get_free_busy_info(
        [
            ("alice@example.org", "Required", False),
            ("ghost@example.org", "Required", False),
            ("bob@example.org", "Required", False),
        ],
        start,
        end,
        merged_free_busy_interval=60,
    )
    assert alice.view_type == "DetailedMerged" and alice.merged == "02010030"
    assert [(e.start, e.end, e.busy_type) for e in alice.calendar_events] == [
        (at(4, 9), at(4, 10), "Busy"),
        (at(4, 11), at(4, 11, 30), "Tentative"),
        (at(4, 14), at(4, 15), "OOF"),
    ]
    assert alice.calendar_events[0].details.subject == "Busy one"
    assert isinstance(ghost, ErrorMailRecipientNotFound)
    assert bob.merged == "0" * 8 and bob.calendar_events == []
    # another user's calendar shows free/busy only (Exchange's default AvailabilityOnly permission)
    [seen_by_bob] = dorg.account("bob@example.org").protocol.get_free_busy_info(
        [("alice@example.org", "Required", False)], start, end
    )
    assert seen_by_bob.view_type == "FreeBusyMerged"
    assert all(e.details is None for e in seen_by_bob.calendar_events)
    # the room's working hours are in its own zone
    [room] = protocol.get_free_busy_info([("room.1@example.org", "Room", False)], start, end)
    assert room.working_hours_timezone.bias == -60 and room.working_hours[0].start == dt.time(8)


def test_free_busy_limits(dorg: Org) -> None:
    version = {"exchange2007": "Exchange2007_SP1", "exchange2010": "Exchange2010_SP2"}.get(
        dorg.dialect, "Exchange2016"
    )
    many = [f"user{i}@example.org" for i in range(101)]
    resp = _raw(dorg, _availability(many, "2024-03-04T00:00:00", "2024-03-05T00:00:00"), version)
    assert resp.status_code == 500 and "ErrorMailboxDataArrayTooBig" in resp.text
    assert "The allowed size = 100; the actual size = 101." in resp.text
    resp = _raw(
        dorg, _availability(["alice@example.org"], "2024-03-01T00:00:00", "2024-04-13T00:00:00"), version
    )
    assert resp.status_code == 500 and "ErrorTimeIntervalTooBig" in resp.text
    assert "The allowed limit = 42 days; the actual limit = 43 days." in resp.text
    ok = _raw(
        dorg,
        _availability(
            ["alice@example.org"], "2024-03-01T00:00:00", "2024-04-12T00:00:00", "MergedOnly", 1440
        ),
        version,
    )
    assert ok.status_code == 200
    merged = etree.fromstring(ok.content).findtext(f".//{{{T}}}MergedFreeBusy")
    assert merged == "0" * 42
    if dorg.dialect != "exchange2007":
        # exchangelib splits more than 100 mailboxes into requests of at most 100
        before = dorg.sim.counts["GetUserAvailability"]
        found = list(
            dorg.account().protocol.get_free_busy_info(
                [(a, "Required", False) for a in many], at(4, 0), at(5, 0)
            )
        )
        assert len(found) == 101 and all(isinstance(f, ErrorMailRecipientNotFound) for f in found)
        assert dorg.sim.counts["GetUserAvailability"] - before == 2
