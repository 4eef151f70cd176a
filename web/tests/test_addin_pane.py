"""The Outlook add-in's "Book a room" pane in a browser, inside a test double of Office.js.

Debian's Chromium driven by Playwright (as in ``test_admin_pages.py``, whose browser fixture and
screenshots are reused) against a served installation. Office.js is not fetched: its address is
answered with ``office_double.js``, an appointment being written in Outlook whose meeting the test
sets in ``window.__outlookMeeting`` and reads back from ``window.__outlook``. The pane signs in
with a person's bearer token (Office single sign-on in Outlook).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from support import ALICE, BOB, ERIN, ROOM2, Installation, next_weekday_at
from test_admin_pages import browser as browser  # the module-scoped Chromium, skipped if missing
from test_admin_pages import screenshot

pytestmark = pytest.mark.browser

OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
DOUBLE = Path(__file__).with_name("office_double.js")
STRINGS = Path(__file__).parents[1] / "src" / "roomsync_web" / "addin" / "strings.js"
PASSWORDS = {ALICE: "alice-password", BOB: "bob-password", ERIN: "erin-password"}
TAKEN_EN = "This room is taken: someone booked it meanwhile. Please choose another one."


def meeting(served: Installation, start: datetime, language: str = "en-US") -> dict[str, Any]:
    return {
        "displayLanguage": language,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "subject": "Planning",
        "requiredAttendees": [{"emailAddress": BOB, "displayName": "Bob"}],
        "resources": [],
        "recurrence": None,
        "customProperties": {},
        "emailAddress": ALICE,
        "displayName": "Alice Adams",
        "timeZone": "Europe/Zurich",
        "token": served.person_token(ALICE, "alice-password"),
    }


@pytest.fixture
def pane(browser: Browser, served: Installation) -> Iterator[Page]:
    context = browser.new_context(base_url=served.url, viewport={"width": 420, "height": 720})
    context.set_default_timeout(20_000)
    double = DOUBLE.read_text(encoding="utf-8")

    def office_js(route: Route) -> None:
        route.fulfill(status=200, content_type="application/javascript", body=double)

    context.route(OFFICE_JS, office_js)
    context.expose_function("outlookToken", lambda person: served.person_token(person, PASSWORDS[person]))
    try:
        yield context.new_page()
    finally:
        context.close()


def open_pane(page: Page, served: Installation, given: dict[str, Any]) -> None:
    page.add_init_script(f"window.__outlookMeeting = {json.dumps(given)};")
    page.goto(f"{served.url}/addin/taskpane.html")


def outlook(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        "() => ({resources: __outlook.resources, location: __outlook.location,"
        " customProperties: __outlook.customProperties, tokenRequests: __outlook.tokenRequests})"
    )
    return found


def test_the_pane_lists_free_rooms_by_fit_and_books_one_for_the_meeting(
    pane: Page, served: Installation
) -> None:
    start = next_weekday_at(10, days=8)
    open_pane(pane, served, meeting(served, start))
    rooms = pane.locator("#rooms li.room")
    expect(rooms).to_have_count(3)
    # two people (Bob and the organizer): all three fit, the smallest first
    expect(rooms.locator(".name")).to_have_text(["Room 2", "Room 1", "Room 3"])
    expect(rooms.nth(0).locator(".facts")).to_have_text("4 seats · no equipment")
    expect(rooms.nth(1).locator(".facts")).to_have_text("8 seats · projector")
    expect(pane.locator("#meeting-facts")).to_have_text("1 attendee")
    pane.get_by_label("Search by name or equipment").fill("video")
    expect(rooms.locator(".name")).to_have_text(["Room 3"])
    pane.get_by_label("Search by name or equipment").fill("")
    expect(rooms).to_have_count(3)
    screenshot(pane, "addin-free-rooms.png")

    pane.get_by_role("button", name="Book Room 2").click()
    expect(pane.get_by_role("status")).to_have_text("Booked: Room 2")
    expect(pane.get_by_role("button", name="Remove booking")).to_be_visible()
    screenshot(pane, "addin-booked.png")

    item = outlook(pane)
    # a token asked of Office before each request (sign-in, identity, free rooms, booking): never kept
    assert item["tokenRequests"] == [{"allowSignInPrompt": True}] * 4
    assert item["resources"] == [{"emailAddress": "room.2@example.org", "displayName": "Room 2"}]
    assert item["location"] == "Room 2"
    reservation_id = item["customProperties"]["roomsyncReservation"]
    installation_id = served.database.installation().id
    assert item["customProperties"]["roomsyncStamp"] == f"{installation_id}:{reservation_id}"

    shown = served.client(served.key("admin")).get(f"/api/v1/reservations/{reservation_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["reservation"]["rooms"] == ["room.2@example.org"]
    assert shown.json()["reservation"]["organizer"] == ALICE
    assert [link["state"] for link in shown.json()["links"]] == ["awaiting"]

    # opened again, the pane shows the booking of the meeting instead of the free rooms
    again = pane.context.new_page()
    again.add_init_script(
        "window.__outlookMeeting = "
        + json.dumps({**meeting(served, start), "customProperties": item["customProperties"]})
    )
    again.goto(f"{served.url}/addin/taskpane.html")
    expect(again.get_by_role("button", name="Remove booking")).to_be_visible()
    expect(again.locator("#current-state")).to_have_text("State: awaiting")
    expect(again.locator("#finder")).to_be_hidden()


def test_a_room_taken_meanwhile_is_refused_in_plain_words(pane: Page, served: Installation) -> None:
    start = next_weekday_at(14, days=8)
    open_pane(pane, served, meeting(served, start))
    expect(pane.locator("#rooms li.room")).to_have_count(3)
    taken = served.client(served.key("admin")).post(
        "/api/v1/reservations",
        json={
            "title": "Taken meanwhile",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "organizer": BOB,
            "rooms": ["room.2@example.org"],
        },
    )
    assert taken.status_code == 201, taken.text
    pane.get_by_role("button", name="Book Room 2").click()
    expect(pane.get_by_role("status")).to_contain_text(TAKEN_EN)
    screenshot(pane, "addin-refused.png")
    item = outlook(pane)
    assert item["resources"] == []
    assert item["location"] == ""
    assert item["customProperties"] == {}
    # the list is asked again: the taken room is gone from it
    expect(pane.locator("#rooms li.room .name")).to_have_text(["Room 1", "Room 3"])


def test_the_pane_speaks_german_in_a_swiss_german_outlook(pane: Page, served: Installation) -> None:
    start = next_weekday_at(16, days=8)
    open_pane(pane, served, meeting(served, start, language="de-CH"))
    expect(pane.get_by_role("heading", level=1)).to_have_text("Raum buchen")
    expect(pane.get_by_role("heading", name="Freie Räume")).to_be_visible()
    expect(pane.locator("#rooms li.room").first.locator(".facts")).to_have_text(
        "4 Plätze · keine Ausstattung"
    )
    expect(pane.get_by_role("button", name="Buchen Room 2")).to_be_visible()
    assert "Raum buchen" in STRINGS.read_text(encoding="utf-8")


def weekly_series(start: datetime, weeks: int) -> dict[str, Any]:
    """An Outlook weekly series as Office.js's Recurrence gives it (times in the series' zone)."""
    local = start.astimezone(ZoneInfo("Europe/Zurich"))
    return {
        "recurrenceType": "weekly",
        "recurrenceProperties": {
            "interval": 1,
            "days": [local.strftime("%a").lower()],
            "firstDayOfWeek": "mon",
        },
        "recurrenceTimeZone": {"name": "W. Europe Standard Time"},
        "seriesTime": {
            "startDate": local.date().isoformat(),
            "endDate": (local + timedelta(weeks=weeks - 1)).date().isoformat(),
            "startTime": f"T{local:%H:%M}:00:000",
            "endTime": f"T{local + timedelta(hours=1):%H:%M}:00:000",
            "duration": 60,
        },
    }


def test_a_series_is_offered_only_rooms_free_for_every_occurrence(pane: Page, served: Installation) -> None:
    start = next_weekday_at(9, days=10)
    admin = served.client(served.key("admin"))
    third = start + timedelta(weeks=2)
    taken = admin.post(
        "/api/v1/reservations",
        json={
            "title": "Third week only",
            "start": third.isoformat(),
            "end": (third + timedelta(hours=1)).isoformat(),
            "organizer": BOB,
            "rooms": [ROOM2],
        },
    )
    assert taken.status_code == 201, taken.text
    first_only = admin.get(
        "/api/v1/rooms/free",
        params={"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()},
    )
    assert ROOM2 in [room["mailbox"] for room in first_only.json()]  # free for the first meeting

    given = {
        **meeting(served, start),
        "recurrence": weekly_series(start, weeks=4),
        "timeZone": "W. Europe Standard Time",
    }
    open_pane(pane, served, given)
    expect(pane.locator("#rooms li.room .name")).to_have_text(["Room 1", "Room 3"])
    expect(pane.locator("#meeting-facts")).to_have_text("1 attendee · series: free for all 4 occurrences")
    screenshot(pane, "addin-series.png")

    pane.get_by_role("button", name="Book Room 1").click()
    expect(pane.get_by_role("status")).to_have_text("Booked: Room 1")
    reservation_id = outlook(pane)["customProperties"]["roomsyncReservation"]
    booked = admin.get(f"/api/v1/reservations/{reservation_id}").json()["reservation"]
    local = start.astimezone(ZoneInfo("Europe/Zurich"))
    # Outlook's Windows zone, taken as the IANA zone the CLDR gives it (Zurich keeps Berlin's rules)
    assert booked["timezone"] == "Europe/Berlin"
    assert booked["recurrence"]["frequency"] == "weekly"
    assert booked["recurrence"]["weekdays"] == [local.strftime("%a")[:2].upper()]
    assert booked["recurrence"]["until"] == (local + timedelta(weeks=3)).date().isoformat()


def test_a_series_pattern_rooms_cannot_hold_is_refused_before_anything_is_booked(
    pane: Page, served: Installation
) -> None:
    start = next_weekday_at(9, days=11)
    series = {
        **weekly_series(start, weeks=4),
        "recurrenceType": "monthly",
        "recurrenceProperties": {"interval": 1, "dayOfWeek": "weekendDay", "weekNumber": "first"},
    }
    open_pane(pane, served, {**meeting(served, start), "recurrence": series})
    expect(pane.get_by_role("status")).to_have_text(
        "Rooms for this series pattern cannot be booked here. Please book them in ROOMS."
    )
    expect(pane.locator("#finder")).to_be_hidden()


def test_a_delegate_books_only_for_someone_who_named_them_as_booker(pane: Page, served: Installation) -> None:
    """Bob writes a meeting in Alice's calendar (her delegate in Outlook): the organizer is Alice."""
    start = next_weekday_at(12, days=11)
    given = {
        **meeting(served, start),
        "emailAddress": BOB,
        "displayName": "Bob Brown",
        "organizer": {"emailAddress": ALICE, "displayName": "Alice Adams"},
        "token": served.person_token(BOB, "bob-password"),
    }
    open_pane(pane, served, given)
    expect(pane.locator("#meeting-facts")).to_have_text("1 attendee · for Alice Adams")
    pane.get_by_role("button", name="Book Room 2").click()
    expect(pane.get_by_role("status")).to_contain_text(f"You may not book rooms for {ALICE}.")
    assert outlook(pane)["customProperties"] == {}
    assert outlook(pane)["resources"] == []

    served.roomsync("persons", "set", ALICE, "--booker", BOB)  # Alice names her delegate
    try:
        pane.get_by_role("button", name="Book Room 2").click()
        expect(pane.get_by_role("status")).to_have_text("Booked: Room 2")
        reservation_id = outlook(pane)["customProperties"]["roomsyncReservation"]
        shown = served.client(served.key("admin")).get(f"/api/v1/reservations/{reservation_id}").json()
        assert shown["reservation"]["organizer"] == ALICE
        assert [(j["action"], j["actor"]) for j in shown["journal"]] == [("created", BOB)]
    finally:
        served.roomsync("persons", "set", ALICE, "--no-booker", BOB)


def test_changing_the_room_and_removing_the_booking_keep_the_meeting_in_step(
    pane: Page, served: Installation
) -> None:
    start = next_weekday_at(13, days=11)
    given = meeting(served, start)
    given["resources"] = [{"emailAddress": "projector.cart@example.org", "displayName": "Projector cart"}]
    open_pane(pane, served, given)
    pane.get_by_role("button", name="Book Room 2").click()
    expect(pane.get_by_role("status")).to_have_text("Booked: Room 2")
    stamp = outlook(pane)["customProperties"]["roomsyncStamp"]

    pane.get_by_role("button", name="Change room").click()
    pane.get_by_role("button", name="Book Room 3").click()
    expect(pane.get_by_role("status")).to_have_text("Booked instead: Room 3")
    item = outlook(pane)
    # the other resource stays; only roomsync's room is replaced
    assert [r["emailAddress"] for r in item["resources"]] == [
        "projector.cart@example.org",
        "room.3@example.org",
    ]
    assert item["location"] == "Room 3"
    assert item["customProperties"]["roomsyncStamp"] == stamp
    reservation_id = item["customProperties"]["roomsyncReservation"]
    admin = served.client(served.key("admin"))
    assert admin.get(f"/api/v1/reservations/{reservation_id}").json()["reservation"]["rooms"] == [
        "room.3@example.org"
    ]

    pane.get_by_role("button", name="Remove booking").click()
    expect(pane.get_by_role("status")).to_have_text("The booking was removed.")
    item = outlook(pane)
    assert [r["emailAddress"] for r in item["resources"]] == ["projector.cart@example.org"]
    assert (item["location"], item["customProperties"]) == ("", {})
    assert admin.get(f"/api/v1/reservations/{reservation_id}").json()["reservation"]["status"] == "cancelled"
    expect(pane.locator("#rooms li.room")).to_have_count(3)  # free again, offered again


def test_a_room_beyond_its_booking_window_is_not_offered_and_refused_in_plain_words(
    pane: Page, served: Installation
) -> None:
    start = next_weekday_at(15, days=11)
    open_pane(pane, served, meeting(served, start))
    expect(pane.locator("#rooms li.room")).to_have_count(3)
    served.roomsync("rooms", "set", "room.3@example.org", "--booking-window-days", "7")  # meanwhile
    try:
        pane.get_by_role("button", name="Book Room 3").click()
        expect(pane.get_by_role("status")).to_have_text(
            "Room 3 can be booked at most 7 days ahead. Please choose another room or an earlier date."
        )
        expect(pane.locator("#rooms li.room .name")).to_have_text(["Room 2", "Room 1"])
        assert outlook(pane)["customProperties"] == {} and outlook(pane)["resources"] == []
        refused = served.client(served.key("admin")).post(
            "/api/v1/reservations",
            json={
                "title": "Too far",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "organizer": ALICE,
                "rooms": ["room.3@example.org"],
            },
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "outside-booking-window"
        assert refused.json()["facts"] == {"room": "room.3@example.org", "days": 7}
    finally:
        served.roomsync("rooms", "set", "room.3@example.org", "--no-booking-window")
