"""The add-in end to end, per Exchange generation: book in the pane, send from Outlook, sync.

The pane runs in Chromium inside the Office.js double (``office_double.js``); clicking Send in
the double hands the meeting to :class:`outlook_host.OutlookHost`, which writes it into the
organizer's mailbox in the simulator as Outlook does: Alice's over EWS (Exchange 2013), Erin's
over Graph (Exchange Online). Cycles run through the API, as an administrator would start them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from outlook_host import OutlookHost
from roomsync.storage.models import LinkRow
from support import ALICE, ERIN, ROOM2, Installation, next_weekday_at
from test_addin_pane import PASSWORDS, meeting, outlook
from test_addin_pane import browser as browser  # the module-scoped Chromium, skipped if missing
from test_addin_pane import pane as pane

pytestmark = pytest.mark.browser


@pytest.fixture(
    params=[pytest.param((ALICE, "onprem"), id="exchange2013"), pytest.param((ERIN, "online"), id="o365")]
)
def host(request: pytest.FixtureRequest, served: Installation) -> Iterator[OutlookHost]:
    organizer, environment = request.param
    yield OutlookHost(served, organizer, environment)


def open_outlook(pane: Page, served: Installation, host: OutlookHost, start: datetime) -> dict[str, Any]:
    given = {
        **meeting(served, start),
        "subject": f"Planning {start:%H%M}",
        "emailAddress": host.organizer,
        "token": served.person_token(host.organizer, PASSWORDS[host.organizer]),
    }
    pane.expose_function("outlookSend", host.send)
    pane.add_init_script(f"window.__outlookMeeting = {json.dumps(given)};")
    pane.goto(f"{served.url}/addin/taskpane.html")
    return given


def sync(served: Installation, person: str) -> dict[str, Any]:
    report: dict[str, Any] = (
        served.client(served.key("admin")).post(f"/api/v1/admin/persons/{person}/sync").json()
    )
    assert report["ok"], report
    return report


def detail(served: Installation, reservation_id: str) -> dict[str, Any]:
    shown = served.client(served.key("admin")).get(f"/api/v1/reservations/{reservation_id}")
    assert shown.status_code == 200, shown.text
    found: dict[str, Any] = shown.json()
    return found


def subjects(served: Installation, host: OutlookHost) -> list[str]:
    simulator = served.ews if host.environment == "onprem" else served.graph
    found: list[str] = simulator.calendar_subjects(host.organizer)
    return found


def wait_is_over(served: Installation, reservation_id: str) -> None:
    """The wait ([web] outlook_wait_minutes) is over: its deadline moved to the past, as time would
    move it (the served process's clock is real)."""
    with served.database.engine.begin() as connection:
        connection.execute(
            update(LinkRow)
            .where(LinkRow.reservation_id == reservation_id)
            .values(expected_by=datetime.now(UTC) - timedelta(minutes=1))
        )


def book_room_2(pane: Page) -> str:
    pane.get_by_role("button", name="Book Room 2").click()
    expect(pane.get_by_role("status")).to_have_text("Booked: Room 2")
    reservation_id: str = outlook(pane)["customProperties"]["roomsyncReservation"]
    return reservation_id


def test_a_meeting_booked_in_the_pane_and_sent_is_one_entry_linked_and_moves_with_outlook(
    pane: Page, served: Installation, host: OutlookHost
) -> None:
    start = next_weekday_at(11 if host.environment == "onprem" else 13, days=9)
    given = open_outlook(pane, served, host, start)
    reservation_id = book_room_2(pane)
    assert given["subject"] not in subjects(served, host)  # roomsync wrote nothing: Outlook will

    item_id = pane.evaluate("() => __outlook.send()")
    report = sync(served, host.organizer)

    assert report["created"] == 0, report
    assert subjects(served, host).count(given["subject"]) == 1
    shown = detail(served, reservation_id)
    assert [(link["state"], link["item_id"]) for link in shown["links"]] == [("synced", item_id)]
    assert shown["reservation"]["rooms"] == [ROOM2]
    assert host.resources(item_id) == [ROOM2]  # the room is the meeting's resource, as Outlook sent it
    version = shown["reservation"]["version"]

    host.move(item_id, timedelta(hours=1))
    report = sync(served, host.organizer)

    moved = detail(served, reservation_id)["reservation"]
    assert datetime.fromisoformat(moved["start"]) == start + timedelta(hours=1), (report, moved)
    assert moved["version"] > version
    assert subjects(served, host).count(given["subject"]) == 1
    echo = sync(served, host.organizer)
    assert not any(echo[k] for k in ("created", "updated", "deleted")), echo


def test_a_meeting_closed_without_sending_releases_its_room_after_the_wait(
    pane: Page, served: Installation, host: OutlookHost
) -> None:
    start = next_weekday_at(15 if host.environment == "onprem" else 17, days=9)
    given = open_outlook(pane, served, host, start)
    reservation_id = book_room_2(pane)
    saved = outlook(pane)["customProperties"]
    assert sync(served, host.organizer)["created"] == 0
    assert [link["state"] for link in detail(served, reservation_id)["links"]] == ["awaiting"]

    wait_is_over(served, reservation_id)
    sync(served, host.organizer)

    shown = detail(served, reservation_id)
    assert shown["reservation"]["status"] == "cancelled"
    assert shown["links"] == []
    assert "cancelled" in [entry["action"] for entry in shown["journal"]]
    assert given["subject"] not in subjects(served, host)

    # Outlook is opened on the draft again: the pane says so and offers the rooms afresh.
    again = pane.context.new_page()
    again.add_init_script(
        "window.__outlookMeeting = " + json.dumps({**given, "customProperties": saved, "resources": []})
    )
    again.goto(f"{served.url}/addin/taskpane.html")
    expect(again.get_by_role("status")).to_contain_text("was released")
    expect(again.locator("#rooms li.room .name")).to_contain_text(["Room 2"])
    assert again.evaluate("() => __outlook.customProperties") == {}


def test_a_meeting_sent_after_its_room_was_released_is_booked_again_as_an_outlook_booking(
    pane: Page, served: Installation, host: OutlookHost
) -> None:
    start = next_weekday_at(7 if host.environment == "onprem" else 19, days=9)
    given = open_outlook(pane, served, host, start)
    released = book_room_2(pane)
    wait_is_over(served, released)
    sync(served, host.organizer)
    assert detail(served, released)["reservation"]["status"] == "cancelled"

    item_id = pane.evaluate("() => __outlook.send()")  # sent at last, the mark still on it
    report = sync(served, host.organizer)

    assert subjects(served, host).count(given["subject"]) == 1, report  # the meeting stays
    assert detail(served, released)["reservation"]["status"] == "cancelled"
    assert report["booked"] == 1, report
    found = served.client(served.key("admin")).get(
        "/api/v1/reservations",
        params={
            "organizer": host.organizer,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        },
    )
    [booked] = [r for r in found.json() if r["title"] == given["subject"]]
    assert booked["id"] != released and booked["rooms"] == [ROOM2]
    assert [link["item_id"] for link in detail(served, booked["id"])["links"]] == [item_id]
    echo = sync(served, host.organizer)
    assert not any(echo[k] for k in ("created", "updated", "deleted", "imported")), echo
