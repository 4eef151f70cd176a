"""Values the store refuses in one calendar item: per item where Exchange refuses per item, the whole
request where its schema validation does, and per ``$batch`` sub-request over Graph. A Subject over
255 characters is cut over EWS (255 characters ending in "...") and refused over Graph.

exchangelib refuses a Subject over 255 characters before sending, so these tests post raw SOAP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from lxml import etree

from graph_support import SEED as GRAPH_SEED
from graph_support import Graph, event, soon
from roomsync_sim.soap import M, T
from roomsync_sim.testing import RunningSimulator, running_simulator
from sim_support import Org
from test_sim_protocol import envelope, fault_code, post

LONG = "x" * 256
# 300 characters that say where they were cut
NUMBERED = "".join(str(n % 10) for n in range(300))
CUT = NUMBERED[:252] + "..."


def item(subject: str = "Good", start: str = "2030-03-04T10:00:00Z", attendees: int = 0) -> str:
    people = "".join(
        f"<t:Attendee><t:Mailbox><t:EmailAddress>guest{n}@elsewhere.example</t:EmailAddress></t:Mailbox></t:Attendee>"
        for n in range(attendees)
    )
    return (
        f"<t:CalendarItem><t:Subject>{subject}</t:Subject><t:Start>{start}</t:Start>"
        f"<t:End>{start.replace('10:00', '11:00')}</t:End>"
        + (f"<t:RequiredAttendees>{people}</t:RequiredAttendees>" if people else "")
        + "</t:CalendarItem>"
    )


def create(org: Org, *items: str) -> requests.Response:
    return post(
        org,
        envelope(
            '<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
            '<t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId>'
            f"<m:Items>{''.join(items)}</m:Items></m:CreateItem>"
        ),
    )


def codes(response: requests.Response) -> list[str]:
    root = etree.fromstring(response.content)
    return [elem.text or "" for elem in root.iter(f"{{{M}}}ResponseCode")]


def subjects(org: Org) -> list[str]:
    with org.sim.store.lock:
        calendar = org.sim.store.mailbox("alice@example.org").folder("calendar")
        return sorted(i.props["Subject"].text or "" for i in calendar.items.values())


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (item("Far", start="4600-03-04T10:00:00Z"), "ErrorCalendarOutOfRange"),
        (item("Early", start="1600-03-04T10:00:00Z"), "ErrorCalendarOutOfRange"),
        (item("Crowded", attendees=501), "recipients"),
    ],
)
def test_a_value_beyond_the_store_s_limits_fails_its_item_only(org: Org, bad: str, code: str) -> None:
    response = create(org, item("Good 1"), bad, item("Good 2"))
    assert response.status_code == 200, response.text
    if code == "recipients":
        code = (
            "ErrorInvalidRecipients"
            if org.dialect in ("exchange2007", "exchange2010")
            else "ErrorExceededMaxRecipientLimit"
        )
    assert codes(response) == ["NoError", code, "NoError"]
    assert subjects(org) == ["Good 1", "Good 2"]


def test_255_characters_and_500_attendees_are_taken(org: Org) -> None:
    response = create(org, item("y" * 255), item("Full", attendees=500))
    assert codes(response) == ["NoError", "NoError"]
    assert subjects(org) == ["Full", "y" * 255]


def test_a_subject_over_255_characters_is_cut_with_an_ellipsis(org: Org) -> None:
    # EWS truncates the subject at 255 characters, "..." at the end when truncated
    # (nylas/exchangelib#68); 256 characters are cut too.
    response = create(org, item(NUMBERED), item(LONG))
    assert codes(response) == ["NoError", "NoError"]
    assert len(CUT) == 255
    assert subjects(org) == sorted([CUT, "x" * 252 + "..."])


def test_an_update_to_a_subject_over_255_characters_cuts_it(org: Org) -> None:
    response = update_subject(org, _created_id(org, "Before"), NUMBERED)
    assert codes(response) == ["NoError"]
    assert subjects(org) == [CUT]


@pytest.mark.parametrize("char", ["&#x1;", "&#x0B;", "&#xFFFE;", "&#xD800;"])
def test_a_character_xml_cannot_carry_fails_the_whole_request(org: Org, char: str) -> None:
    response = create(org, item("Good"), item(f"Bad{char}"))
    assert response.status_code == 500
    assert fault_code(response) == "ErrorSchemaValidation"
    assert subjects(org) == []


def _created_id(org: Org, subject: str) -> str:
    created = etree.fromstring(create(org, item(subject)).content)
    item_id = created.find(f".//{{{T}}}ItemId")
    assert item_id is not None
    return item_id.get("Id") or ""


def update_subject(org: Org, item_id: str, subject: str, start: str | None = None) -> requests.Response:
    change = (
        f'<t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates><t:SetItemField>'
        f'<t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>{subject}</t:Subject>'
        "</t:CalendarItem></t:SetItemField>"
        + (
            '<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/>'
            f"<t:CalendarItem><t:Start>{start}</t:Start></t:CalendarItem></t:SetItemField>"
            if start
            else ""
        )
        + "</t:Updates></t:ItemChange>"
    )
    return post(
        org,
        envelope(
            '<m:UpdateItem ConflictResolution="AlwaysOverwrite" '
            'SendMeetingInvitationsOrCancellations="SendToNone">'
            f"<m:ItemChanges>{change}</m:ItemChanges></m:UpdateItem>"
        ),
    )


def test_an_update_beyond_the_limits_leaves_the_item_as_it_was(org: Org) -> None:
    response = update_subject(org, _created_id(org, "Before"), LONG, start="4600-03-04T10:00:00Z")
    assert codes(response) == ["ErrorCalendarOutOfRange"]
    assert subjects(org) == ["Before"]


# --- Graph ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSimulator]:
    with running_simulator("o365", GRAPH_SEED) as sim:
        yield sim


@pytest.fixture
def graph(running: RunningSimulator) -> Graph:
    running.simulator.reset()
    running.simulator.graph.load()
    return Graph(running)


def _far() -> dict[str, Any]:
    body = event("Far", soon())
    body["start"]["dateTime"] = "4600" + body["start"]["dateTime"][4:]
    body["end"]["dateTime"] = "4600" + body["end"]["dateTime"][4:]
    return body


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (event(LONG, soon()), "ErrorDataSizeLimitExceeded"),
        (_far(), "ErrorCalendarOutOfRange"),
        (
            event(
                "Crowded",
                soon(),
                attendees=[{"emailAddress": {"address": f"g{n}@elsewhere.example"}} for n in range(501)],
            ),
            "ErrorExceededMaxRecipientLimit",
        ),
        (event("Bad\x01", soon()), "ErrorInvalidArgument"),
        (
            event("Fine", soon(), body={"contentType": "text", "content": "lone \ud800"}),
            "ErrorInvalidArgument",
        ),
    ],
)
def test_a_bad_event_in_a_batch_fails_its_sub_request_only(
    graph: Graph, bad: dict[str, Any], code: str
) -> None:
    sub = [event("Good 1", soon()), bad, event("Good 2", soon(hour=11))]
    batch = [
        {
            "id": str(n),
            "method": "POST",
            "url": "/users/alice@example.org/events",
            "body": body,
            "headers": {"Content-Type": "application/json"},
        }
        for n, body in enumerate(sub)
    ]
    answer = graph.post("/$batch", {"requests": batch})
    assert answer.status_code == 200, answer.text
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert [by_id[str(n)]["status"] for n in range(3)] == [201, 400, 201]
    assert by_id["1"]["body"]["error"]["code"] == code
    listed = graph.get("/users/alice@example.org/events").json()["value"]
    assert sorted(e["subject"] for e in listed) == ["Good 1", "Good 2"]
