"""Reservations through the API: the same store, journal, checks and conflicts as the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from support import ALICE, BOB, CAROL, ROOM1, ROOM2, Installation, next_weekday_at


def booking(title: str, hour: int, **changes: Any) -> dict[str, Any]:
    start = next_weekday_at(hour, days=5)
    return {
        "title": title,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "timezone": "Europe/Berlin",
        "organizer": ALICE,
        "rooms": [ROOM2],
        **changes,
    }


def test_a_booking_is_stored_journalled_and_reaches_the_calendar(served: Installation) -> None:
    api = served.client(served.key("admin"))
    created = api.post("/api/v1/reservations", json=booking("Roadmap", 8, setup_minutes=15))
    assert created.status_code == 201, created.text
    reservation = created.json()
    assert created.headers["location"] == f"/api/v1/reservations/{reservation['id']}"
    assert (reservation["title"], reservation["organizer"], reservation["version"]) == ("Roadmap", ALICE, 1)

    synced = api.post(f"/api/v1/admin/persons/{ALICE}/sync").json()
    assert synced["ok"] and synced["created"] >= 1, synced
    assert "Roadmap" in served.ews.calendar_subjects(ALICE)

    shown = api.get(f"/api/v1/reservations/{reservation['id']}").json()
    assert [link["state"] for link in shown["links"]] == ["synced"]
    assert shown["journal"][0]["action"] == "created"
    listed = api.get("/api/v1/reservations", params={"organizer": ALICE}).json()
    assert reservation["id"] in [r["id"] for r in listed]


def test_update_and_cancel_follow_the_version_and_reach_the_journal(served: Installation) -> None:
    api = served.client(served.key("book"))
    made = api.post("/api/v1/reservations", json=booking("Retro", 10)).json()

    moved = api.patch(f"/api/v1/reservations/{made['id']}", json={"title": "Retro (moved)", "version": 1})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["title"], moved.json()["version"]) == ("Retro (moved)", 2)
    stale = api.patch(f"/api/v1/reservations/{made['id']}", json={"title": "Lost", "version": 1})
    assert stale.status_code == 409
    assert "changed meanwhile" in stale.json()["detail"]

    cancelled = api.delete(f"/api/v1/reservations/{made['id']}", params={"reason": "not needed"})
    assert cancelled.json()["status"] == "cancelled"
    journal = served.client(served.key("admin")).get(f"/api/v1/reservations/{made['id']}").json()["journal"]
    assert [j["action"] for j in journal] == ["cancelled", "updated", "created"]  # newest first
    assert all(j["actor"].endswith("(book:service)") for j in journal[:2])


def test_a_taken_room_is_a_conflict_and_nothing_is_stored(served: Installation) -> None:
    api = served.client(served.key("book"))
    first = api.post("/api/v1/reservations", json=booking("Board", 12, rooms=[ROOM1]))
    assert first.status_code == 201
    before = api.get("/api/v1/reservations", params={"room": ROOM1}).json()

    taken = api.post("/api/v1/reservations", json=booking("Clash", 12, organizer=BOB, rooms=[ROOM1]))

    assert taken.status_code == 409
    assert taken.json()["detail"] == f"room {ROOM1} is taken by reservation {first.json()['id']}"
    assert api.get("/api/v1/reservations", params={"room": ROOM1}).json() == before


BAD = {
    "end before start": (
        lambda b: {**b, "end": b["start"]},
        422,
        "is not after start",
    ),
    "time with no zone": (
        lambda b: {**b, "start": "2030-01-01T09:00"},
        422,
        "start: Input should have timezone info",
    ),
    "wrong type": (
        lambda b: {**b, "reminder_minutes": "soon"},
        422,
        "reminder_minutes: Input should be a valid integer",
    ),
    "unknown field": (lambda b: {**b, "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    "missing field": (lambda b: {k: v for k, v in b.items() if k != "title"}, 422, "title: Field required"),
    "not an address": (lambda b: {**b, "rooms": ["room one"]}, 422, "rooms.0: 'room one'"),
    "empty title": (lambda b: {**b, "title": "  "}, 422, "title is empty"),
    "unknown zone": (lambda b: {**b, "timezone": "Mars/Olympus"}, 422, "timezone:"),
    "unknown room": (
        lambda b: {**b, "rooms": ["nowhere@example.org"]},
        404,
        "unknown room nowhere@example.org",
    ),
    "unknown organizer": (
        lambda b: {**b, "organizer": "ghost@example.org"},
        404,
        "unknown person ghost@example.org",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_bookings_are_refused_naming_the_field_and_store_nothing(served: Installation, case: str) -> None:
    change, status, words = BAD[case]
    api = served.client(served.key("admin"))
    before = api.get("/api/v1/reservations", params={"cancelled": True, "limit": 1000}).json()

    answer = api.post("/api/v1/reservations", json=change(booking("Bad", 14)))

    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    assert api.get("/api/v1/reservations", params={"cancelled": True, "limit": 1000}).json() == before


def test_malformed_huge_and_unknown_requests_are_clear_4xx(served: Installation) -> None:
    api = served.client(served.key("admin"))
    malformed = api.post(
        "/api/v1/reservations", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "body"
    assert "not valid JSON" in malformed.json()["detail"]

    huge = api.post(
        "/api/v1/reservations", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413
    assert "larger than 1000000 bytes" in huge.json()["detail"]

    assert api.get("/api/v1/reservations/999999").json() == {"detail": "no reservation 999999"}
    assert api.get("/api/v1/reservations/999999").status_code == 404
    assert api.delete("/api/v1/reservations/999999").status_code == 404
    assert api.get("/api/v1/reservations", params={"limit": 0}).status_code == 422


class FreshToken(httpx.Auth):
    """A person's newly issued token on every request."""

    def __init__(self, served: Installation, email: str, password: str) -> None:
        self.served, self.email, self.password = served, email, password

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.served.person_token(self.email, self.password)}"
        yield request


def test_a_person_books_changes_and_cancels_for_those_who_named_them_as_booker(served: Installation) -> None:
    admin = served.client(served.key("admin"))
    bob = served.client()
    bob.auth = FreshToken(served, BOB, "bob-password")  # tokens live seconds here
    carol = served.client(served.key("book", CAROL))  # acts as Carol, whom Alice does not name
    refusal = "may {} only as {} or for the persons who named them as booker"

    def journal(reservation_id: str) -> list[tuple[str, str]]:
        shown = admin.get(f"/api/v1/reservations/{reservation_id}").json()
        return [(j["action"], j["actor"]) for j in shown["journal"]]

    served.roomsync("persons", "set", ALICE, "--booker", BOB)
    try:
        status = admin.get("/api/v1/admin/status", params={"person": ALICE}).json()
        assert status["persons"][0]["bookers"] == [BOB]

        made = bob.post("/api/v1/reservations", json=booking("Board prep", 16, booked_by=BOB))
        assert made.status_code == 201, made.text
        reservation = made.json()
        assert reservation["organizer"] == ALICE
        assert bob.get(f"/api/v1/reservations/{reservation['id']}").status_code == 200
        assert journal(reservation["id"]) == [("created", BOB)]

        not_hers = carol.post("/api/v1/reservations", json=booking("Not hers", 17))
        assert not_hers.status_code == 403
        assert not_hers.json()["detail"].endswith(refusal.format("book", CAROL))
        as_carol = bob.post("/api/v1/reservations", json=booking("As Carol", 17, booked_by=CAROL))
        assert as_carol.status_code == 403
        assert as_carol.json()["detail"] == f"{BOB} {refusal.format('book', BOB)}"  # no one's bookers
        taken_over = carol.patch(f"/api/v1/reservations/{reservation['id']}", json={"title": "Mine"})
        assert taken_over.status_code == 403
        assert taken_over.json()["detail"].endswith(refusal.format("change reservations", CAROL))
        assert carol.delete(f"/api/v1/reservations/{reservation['id']}").status_code == 403

        moved = bob.patch(
            f"/api/v1/reservations/{reservation['id']}", json={"title": "Board prep (moved)", "version": 1}
        )
        assert moved.status_code == 200, moved.text
        assert (moved.json()["title"], moved.json()["organizer"]) == ("Board prep (moved)", ALICE)
        cancelled = bob.delete(f"/api/v1/reservations/{reservation['id']}", params={"reason": "moved"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert journal(reservation["id"]) == [("cancelled", BOB), ("updated", BOB), ("created", BOB)]

        unnamed = bob.post("/api/v1/reservations", json=booking("Budget", 17)).json()
        assert journal(unnamed["id"]) == [("created", BOB)]  # Bob booked it, not Alice
        bob.delete(f"/api/v1/reservations/{unnamed['id']}")

        alices = served.client(served.key("book", ALICE))
        own = alices.post("/api/v1/reservations", json=booking("1:1", 18)).json()
        assert bob.get(f"/api/v1/reservations/{own['id']}").status_code == 200
        assert carol.get(f"/api/v1/reservations/{own['id']}").status_code == 404
    finally:
        served.roomsync("persons", "set", ALICE, "--no-booker", BOB)

    assert bob.post("/api/v1/reservations", json=booking("After", 19, booked_by=BOB)).status_code == 403
