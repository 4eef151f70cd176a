"""The o365 dialect's events: CRUD, idempotent creates, extended properties and $filter,
calendarView paging, time zones, recurrence with exceptions, meetings and rooms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from graph_support import EXT_ID, SEED, Graph, dtz, event, soon
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE = "/users/alice@example.org"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with running_simulator("o365", SEED) as sim:
        yield sim


@pytest.fixture
def graph(running: RunningSimulator) -> Graph:
    running.simulator.reset()
    return Graph(running)


def test_create_get_patch_delete(graph: Graph) -> None:
    start = soon()
    created = graph.create(
        "alice@example.org",
        event(
            "Planning",
            start,
            body={"contentType": "text", "content": "Agenda"},
            location={"displayName": "Room 1"},
            sensitivity="private",
            showAs="tentative",
            isReminderOn=False,
            reminderMinutesBeforeStart=5,
            categories=["Blue"],
        ),
    )
    assert created["type"] == "singleInstance" and created["isOrganizer"]
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["sensitivity"] == "private" and created["showAs"] == "tentative"
    assert created["isReminderOn"] is False and created["reminderMinutesBeforeStart"] == 5
    assert created["location"]["displayName"] == "Room 1" and created["categories"] == ["Blue"]
    assert created["body"]["contentType"] == "html" and "Agenda" in created["body"]["content"]
    assert created["bodyPreview"] == "Agenda" and created["iCalUId"].startswith(
        "040000008200E00074C5B7101A82E008"
    )
    assert created["organizer"]["emailAddress"]["address"] == "alice@example.org"
    got = graph.get(
        f"{ALICE}/events/{created['id']}", headers={"Prefer": 'outlook.body-content-type="text"'}
    ).json()
    assert got["body"] == {"contentType": "text", "content": "Agenda"}
    patched = graph.patch(f"{ALICE}/events/{created['id']}", {"subject": "Planning 2"})
    assert patched.status_code == 200 and patched.json()["subject"] == "Planning 2"
    assert patched.json()["changeKey"] != created["changeKey"]
    stale = graph.patch(
        f"{ALICE}/events/{created['id']}", {"subject": "x"}, headers={"If-Match": created["@odata.etag"]}
    )
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    unknown = graph.patch(f"{ALICE}/events/{created['id']}", {"colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBodyRead"
    assert graph.delete(f"{ALICE}/events/{created['id']}").status_code == 204
    missing = graph.get(f"{ALICE}/events/{created['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert graph.get(f"{ALICE}/events/garbage").json()["error"]["code"] == "ErrorInvalidIdMalformed"
    error = missing.json()["error"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_transaction_id_makes_create_idempotent(graph: Graph) -> None:
    body = event("Once", soon(), transactionId="7E163156-7762-4BEB-A1C6-729EA81755A7")
    first = graph.create("alice@example.org", body)
    second = graph.create("alice@example.org", body)
    assert second["id"] == first["id"] and second["transactionId"] == body["transactionId"]
    assert len(graph.get(f"{ALICE}/events").json()["value"]) == 1


def test_extended_properties_expand_and_filter(graph: Graph) -> None:
    stamped = graph.create(
        "alice@example.org",
        event("Stamped", soon(), singleValueExtendedProperties=[{"id": EXT_ID, "value": "R-42"}]),
    )
    graph.create("alice@example.org", event("Plain", soon(hour=11)))
    assert "singleValueExtendedProperties" not in stamped
    upper = EXT_ID.replace("66f5a359", "66F5A359")
    got = graph.get(
        f"{ALICE}/events/{stamped['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{upper}')"},
    ).json()
    assert got["singleValueExtendedProperties"] == [{"id": EXT_ID, "value": "R-42"}]
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{EXT_ID}' and ep/value eq 'R-42')"
    found = graph.get(f"{ALICE}/events", params={"$filter": flt}).json()["value"]
    assert [e["subject"] for e in found] == ["Stamped"]
    graph.patch(
        f"{ALICE}/events/{stamped['id']}",
        {"singleValueExtendedProperties": [{"id": EXT_ID, "value": "R-43"}]},
    )
    assert graph.get(f"{ALICE}/events", params={"$filter": flt}).json()["value"] == []
    assert (
        graph.get(f"{ALICE}/events", params={"$filter": "subject eq 'plain'"}).json()["value"][0]["subject"]
        == "Plain"
    )
    assert graph.get(f"{ALICE}/events", params={"$filter": "subject eq"}).status_code == 400


def test_calendar_view_paging_select_and_time_zone(graph: Graph) -> None:
    start = soon()
    for i in range(5):
        graph.create("alice@example.org", event(f"E{i}", start + timedelta(hours=i)))
    params = {
        "startDateTime": (start - timedelta(days=1)).isoformat(),
        "endDateTime": (start + timedelta(days=1)).isoformat(),
        "$top": "2",
        "$select": "subject,start",
    }
    headers = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    page = graph.get(f"{ALICE}/calendarView", params=params, headers=headers).json()
    subjects = [e["subject"] for e in page["value"]]
    while "@odata.nextLink" in page:
        page = graph.get(page["@odata.nextLink"], headers=headers).json()
        subjects += [e["subject"] for e in page["value"]]
    assert subjects == ["E0", "E1", "E2", "E3", "E4"]
    first = graph.get(f"{ALICE}/calendarView", params=params, headers=headers)
    assert first.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    entry = first.json()["value"][0]
    assert set(entry) == {"@odata.etag", "id", "subject", "start"}
    assert entry["start"]["timeZone"] == "Pacific Standard Time"
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert entry["start"]["dateTime"] == local.strftime("%Y-%m-%dT%H:%M:%S.0000000")
    created = graph.create(
        "alice@example.org",
        {
            "subject": "Berlin",
            "start": dtz(start, "W. Europe Standard Time"),
            "end": dtz(start + timedelta(hours=1), "W. Europe Standard Time"),
        },
    )
    assert created["originalStartTimeZone"] == "W. Europe Standard Time"
    assert created["start"]["timeZone"] == "UTC"
    bad = graph.post(
        f"{ALICE}/events", {"subject": "x", "start": dtz(start, "Mars/Olympus"), "end": dtz(start, "UTC")}
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "TimeZoneNotSupportedException"
    missing = graph.get(f"{ALICE}/calendarView")
    assert missing.status_code == 400


def test_recurrence_instances_exceptions_and_cancelled_occurrences(graph: Graph) -> None:
    start = soon()
    series = graph.create(
        "alice@example.org",
        event(
            "Weekly",
            start,
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()]},
                "range": {
                    "type": "numbered",
                    "startDate": start.date().isoformat(),
                    "numberOfOccurrences": 4,
                },
            },
        ),
    )
    assert series["type"] == "seriesMaster" and series["recurrence"]["range"]["numberOfOccurrences"] == 4
    window = {
        "startDateTime": start.date().isoformat(),
        "endDateTime": (start + timedelta(days=30)).date().isoformat(),
    }
    occurrences = graph.get(f"{ALICE}/events/{series['id']}/instances", params=window).json()["value"]
    assert len(occurrences) == 4 and {o["type"] for o in occurrences} == {"occurrence"}
    assert all(o["seriesMasterId"] == series["id"] for o in occurrences)
    assert len({o["iCalUId"] for o in occurrences}) == 4
    moved = graph.patch(
        f"{ALICE}/events/{occurrences[1]['id']}",
        {
            "subject": "Moved",
            "start": dtz(start + timedelta(days=7, hours=2)),
            "end": dtz(start + timedelta(days=7, hours=3)),
        },
    ).json()
    assert moved["type"] == "exception" and moved["subject"] == "Moved"
    assert graph.delete(f"{ALICE}/events/{occurrences[2]['id']}").status_code == 204
    view = graph.get(f"{ALICE}/calendarView", params=window).json()["value"]
    assert [(v["type"], v["subject"]) for v in view] == [
        ("occurrence", "Weekly"),
        ("exception", "Moved"),
        ("occurrence", "Weekly"),
    ]
    assert graph.post(f"{ALICE}/events/{occurrences[3]['id']}/cancel", {"comment": "off"}).status_code == 202
    assert len(graph.get(f"{ALICE}/calendarView", params=window).json()["value"]) == 2
    for pattern in (
        {"type": "daily", "interval": 2},
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": start.day},
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "first"},
        {"type": "absoluteYearly", "interval": 1, "dayOfMonth": start.day, "month": start.month},
        {
            "type": "relativeYearly",
            "interval": 1,
            "daysOfWeek": ["friday"],
            "index": "last",
            "month": start.month,
        },
    ):
        body = event(
            pattern["type"],
            start,
            recurrence={
                "pattern": pattern,
                "range": {
                    "type": "endDate",
                    "startDate": start.date().isoformat(),
                    "endDate": (start + timedelta(days=800)).date().isoformat(),
                },
            },
        )
        assert graph.post(f"{ALICE}/events", body).status_code == 201, pattern
    body = event(
        "Open",
        start,
        recurrence={
            "pattern": {"type": "daily"},
            "range": {"type": "noEnd", "startDate": start.date().isoformat()},
        },
    )
    assert graph.create("alice@example.org", body)["recurrence"]["range"]["type"] == "noEnd"
    bad = event(
        "Bad",
        start,
        recurrence={"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2030-01-01"}},
    )
    assert graph.post(f"{ALICE}/events", bad).json()["error"]["code"] == "ErrorInvalidRecurrence"


def test_meeting_invites_attendees_and_room_accepts(graph: Graph, running: RunningSimulator) -> None:
    start = soon(days=3)
    meeting = graph.create(
        "alice@example.org",
        event(
            "Review",
            start,
            attendees=[
                {"type": "required", "emailAddress": {"address": "bob@example.org", "name": "Bob"}},
                {"type": "optional", "emailAddress": {"address": "carol@example.org"}},
                {"type": "resource", "emailAddress": {"address": "room.1@example.org"}},
            ],
        ),
    )
    statuses = {
        a["emailAddress"]["address"]: (a["type"], a["status"]["response"]) for a in meeting["attendees"]
    }
    assert statuses == {
        "bob@example.org": ("required", "none"),
        "carol@example.org": ("optional", "none"),
        "room.1@example.org": ("resource", "accepted"),
    }
    bobs = graph.get("/users/bob@example.org/events").json()["value"]
    assert (
        len(bobs) == 1
        and bobs[0]["isOrganizer"] is False
        and bobs[0]["responseStatus"]["response"] == "notResponded"
    )
    assert bobs[0]["showAs"] == "tentative" and bobs[0]["iCalUId"] == meeting["iCalUId"]
    room = graph.get("/users/room.1@example.org/events").json()["value"]
    assert room[0]["showAs"] == "busy"
    # A second meeting at the same time is declined by the room (no conflicts allowed).
    clash = graph.create(
        "bob@example.org",
        event(
            "Clash",
            start,
            attendees=[{"type": "resource", "emailAddress": {"address": "room.1@example.org"}}],
        ),
    )
    assert clash["attendees"][0]["status"]["response"] == "declined"
    assert graph.delete(f"{ALICE}/events/{meeting['id']}").status_code == 204
    cancelled = graph.get("/users/bob@example.org/events", params={"$filter": "isCancelled eq true"}).json()[
        "value"
    ]
    assert cancelled[0]["subject"].startswith("Canceled: ")
    assert graph.get("/users/room.1@example.org/events").json()["value"] == []
    assert running.simulator.counts["events.create"] == 2
