"""The o365 dialect's answers to invitations: ``accept``, ``tentativelyAccept`` and ``decline``.

As Microsoft documents them (event-accept, event-decline): 202 without a body, ``comment`` as the
response's text, ``sendResponse`` (default true) whether the organizer hears of it; the organizer
cannot answer their own meeting. A later answer changes the organizer's event (a new change key),
as Exchange's processing of the response does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from graph_support import SEED, Graph, event, soon
from roomsync_sim.testing import RunningSimulator, running_simulator

ALICE, BOB, ROOM = "alice@example.org", "bob@example.org", "room.1@example.org"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with running_simulator("o365", SEED) as sim:
        yield sim


@pytest.fixture
def graph(running: RunningSimulator) -> Graph:
    running.simulator.reset()
    return Graph(running)


def invite(graph: Graph, subject: str, *addresses: str, kind: str = "required") -> dict[str, Any]:
    return graph.create(
        ALICE,
        event(
            subject,
            soon(),
            attendees=[{"type": kind, "emailAddress": {"address": a}} for a in addresses],
        ),
    )


def copy_of(graph: Graph, mailbox: str) -> dict[str, Any]:
    [found] = graph.get(f"/users/{mailbox}/events").json()["value"]
    return dict(found)


def answers(graph: Graph, event_id: str) -> dict[str, str]:
    body = graph.get(f"/users/{ALICE}/events/{event_id}").json()
    return {a["emailAddress"]["address"]: a["status"]["response"] for a in body["attendees"]}


def inbox(running: RunningSimulator) -> list[tuple[str, str]]:
    store = running.tenants[0].store
    with store.lock:
        items = store.mailbox(ALICE).folder("inbox").items.values()
        return [
            (i.props["ItemClass"].text, i.props["Body"].text if "Body" in i.props else "")
            for i in items
            if i.kind == "MeetingResponse"
        ]


def test_a_room_declines_with_a_comment(graph: Graph, running: RunningSimulator) -> None:
    meeting = invite(graph, "Board", ROOM, kind="resource")
    booking = copy_of(graph, ROOM)

    answer = graph.post(
        f"/users/{ROOM}/events/{booking['id']}/decline", {"comment": "Taken in ROOMS", "sendResponse": True}
    )

    assert answer.status_code == 202 and not answer.content
    assert graph.get(f"/users/{ROOM}/events").json()["value"] == []
    assert answers(graph, meeting["id"]) == {ROOM: "declined"}
    assert ("IPM.Schedule.Meeting.Resp.Neg", "Taken in ROOMS") in inbox(running)
    after = graph.get(f"/users/{ALICE}/events/{meeting['id']}").json()
    assert after["changeKey"] != meeting["changeKey"]
    gone = graph.post(f"/users/{ROOM}/events/{booking['id']}/decline", {"comment": "again"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"


def test_accept_and_tentative_answers(graph: Graph, running: RunningSimulator) -> None:
    meeting = invite(graph, "Planning", BOB)
    copy = copy_of(graph, BOB)

    assert graph.post(f"/users/{BOB}/events/{copy['id']}/tentativelyAccept", {}).status_code == 202
    assert answers(graph, meeting["id"]) == {BOB: "tentativelyAccepted"}
    assert copy_of(graph, BOB)["responseStatus"]["response"] == "tentativelyAccepted"

    assert graph.post(f"/users/{BOB}/events/{copy['id']}/accept", {"comment": "Gladly"}).status_code == 202
    assert answers(graph, meeting["id"]) == {BOB: "accepted"}
    assert ("IPM.Schedule.Meeting.Resp.Pos", "Gladly") in inbox(running)


def test_a_decline_without_response_tells_the_organizer_nothing(
    graph: Graph, running: RunningSimulator
) -> None:
    meeting = invite(graph, "Quiet", BOB)
    copy = copy_of(graph, BOB)

    answer = graph.post(f"/users/{BOB}/events/{copy['id']}/decline", {"sendResponse": False})

    assert answer.status_code == 202
    assert graph.get(f"/users/{BOB}/events").json()["value"] == []
    assert answers(graph, meeting["id"]) == {BOB: "none"}
    assert inbox(running) == []


def test_the_organizer_cannot_answer_and_bodies_are_checked(graph: Graph) -> None:
    meeting = invite(graph, "Own", BOB)

    own = graph.post(f"/users/{ALICE}/events/{meeting['id']}/decline", {"comment": "no"})
    bad = graph.post(f"/users/{BOB}/events/{copy_of(graph, BOB)['id']}/decline", {"sendResponse": "yes"})

    assert own.status_code == 400 and own.json()["error"]["code"] == "ErrorInvalidRequest"
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "RequestBodyRead"
    assert answers(graph, meeting["id"]) == {BOB: "none"}


def test_an_update_after_a_decline_invites_again(graph: Graph) -> None:
    meeting = invite(graph, "Again", BOB)
    declined = copy_of(graph, BOB)
    assert graph.post(f"/users/{BOB}/events/{declined['id']}/decline", {}).status_code == 202

    moved = graph.patch(f"/users/{ALICE}/events/{meeting['id']}", {"subject": "Again, later"})

    assert moved.status_code == 200, moved.text
    fresh = copy_of(graph, BOB)  # a new request in the calendar, not the declined copy revived
    assert fresh["id"] != declined["id"] and fresh["subject"] == "Again, later"
