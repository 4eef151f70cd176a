"""The o365 dialect's calendarView/delta rounds and getSchedule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from graph_support import SEED, Graph, dtz, event, soon
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


def _round(graph: Graph, url: str, page: int = 2) -> tuple[list[dict[str, Any]], str]:
    entries: list[dict[str, Any]] = []
    headers = {"Prefer": f"odata.maxpagesize={page}"}
    while True:
        r = graph.get(url, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["value"]) <= page
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        assert "$skiptoken=" in body["@odata.nextLink"]
        url = body["@odata.nextLink"]


def test_delta_rounds(graph: Graph) -> None:
    start = soon()
    made = [graph.create("alice@example.org", event(f"E{i}", start + timedelta(hours=i))) for i in range(5)]
    series = graph.create(
        "alice@example.org",
        event(
            "Daily",
            start + timedelta(hours=8),
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {
                    "type": "numbered",
                    "startDate": start.date().isoformat(),
                    "numberOfOccurrences": 2,
                },
            },
        ),
    )
    low, high = (start - timedelta(days=1)).isoformat(), (start + timedelta(days=5)).isoformat()
    window = f"startDateTime={low}&endDateTime={high}".replace("+", "%2B")
    entries, delta_link = _round(graph, f"{ALICE}/calendarView/delta?{window}")
    assert len(entries) == 7 and "$deltatoken=" in delta_link
    assert {e["type"] for e in entries} == {"singleInstance", "occurrence"}
    assert all(e["@odata.type"] == "#microsoft.graph.event" for e in entries)
    again, delta_link = _round(graph, delta_link)
    assert again == []
    graph.patch(f"{ALICE}/events/{made[0]['id']}", {"subject": "Changed"})
    graph.delete(f"{ALICE}/events/{made[1]['id']}")
    graph.patch(
        f"{ALICE}/events/{made[2]['id']}",
        {"start": dtz(start + timedelta(days=30)), "end": dtz(start + timedelta(days=30, hours=1))},
    )
    graph.patch(f"{ALICE}/events/{series['id']}", {"subject": "Daily 2"})
    changes, delta_link = _round(graph, delta_link)
    removed = {e["id"] for e in changes if "@removed" in e}
    assert removed == {made[1]["id"], made[2]["id"]}
    assert all(e["@removed"] == {"reason": "deleted"} for e in changes if "@removed" in e)
    assert sorted(e["subject"] for e in changes if "@removed" not in e) == ["Changed", "Daily 2", "Daily 2"]


def test_invalid_and_expired_tokens_are_gone(graph: Graph, running: RunningSimulator) -> None:
    graph.create("alice@example.org", event("One", soon()))
    window = "startDateTime=2020-01-01T00:00:00Z&endDateTime=2040-01-01T00:00:00Z"
    _, delta_link = _round(graph, f"{ALICE}/calendarView/delta?{window}")
    bad = graph.get(f"{ALICE}/calendarView/delta?$deltatoken=bm9wZQ")
    assert bad.status_code == 410 and bad.json()["error"]["code"] == "syncStateNotFound"
    running.simulator.graph.delta.expire()
    gone = graph.get(delta_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    fresh, delta_link = _round(graph, gone.headers["Location"])
    assert [e["subject"] for e in fresh] == ["One"]
    running.simulator.reset()
    graph = Graph(running)
    reset = graph.get(delta_link)
    assert reset.status_code == 410 and reset.json()["error"]["code"] == "resyncRequired"


def test_get_schedule(graph: Graph) -> None:
    start = soon(hour=8)
    graph.create("bob@example.org", event("Busy", start + timedelta(hours=1), showAs="busy"))
    graph.create(
        "bob@example.org", event("Secret", start + timedelta(hours=2), sensitivity="private", showAs="oof")
    )
    graph.create(
        "bob@example.org", event("Maybe", start + timedelta(hours=3), minutes=30, showAs="tentative")
    )
    body = {
        "schedules": ["bob@example.org", "nobody@example.org", "room.1@example.org"],
        "startTime": dtz(start),
        "endTime": dtz(start + timedelta(hours=5)),
        "availabilityViewInterval": 60,
    }
    r = graph.post(f"{ALICE}/calendar/getSchedule", body)
    assert r.status_code == 200, r.text
    bob, nobody, room = r.json()["value"]
    assert bob["availabilityView"] == "02310"
    assert [(i["status"], i.get("subject")) for i in bob["scheduleItems"]] == [
        ("busy", "Busy"),
        ("oof", None),
        ("tentative", "Maybe"),
    ]
    assert bob["scheduleItems"][1]["isPrivate"] is True
    assert bob["workingHours"]["daysOfWeek"][0] == "monday"
    assert nobody["error"]["responseCode"] == "ErrorMailRecipientNotFound"
    assert room["availabilityView"] == "00000"
    too_many = graph.post(
        f"{ALICE}/calendar/getSchedule", {**body, "schedules": [f"u{i}@example.org" for i in range(21)]}
    )
    assert too_many.status_code == 400
    too_long = graph.post(
        f"{ALICE}/calendar/getSchedule", {**body, "endTime": dtz(start + timedelta(days=62))}
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "ErrorTimeIntervalTooBig"
    fits = graph.post(f"{ALICE}/calendar/getSchedule", {**body, "endTime": dtz(start + timedelta(days=61))})
    assert fits.status_code == 200
    pacific = graph.post(
        f"{ALICE}/calendar/getSchedule", body, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    assert pacific.json()["value"][0]["scheduleItems"][0]["start"]["timeZone"] == "Pacific Standard Time"
