"""Free/busy, rooms and administration through the API, with Exchange behind it."""

from __future__ import annotations

from datetime import datetime, timedelta

from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

from roomsync.domain import EventFields
from support import ALICE, BOB, CAROL, ERIN, ROOM1, ROOM2, ROOM3, Installation, next_weekday_at


def test_free_busy_merges_exchange_and_rooms_across_environments(served: Installation) -> None:
    api = served.client(served.key("admin"))
    start = next_weekday_at(9, days=8)
    outlook = served.outlook()
    try:
        outlook.create(
            BOB,
            EventFields(
                title="Dentist", start=start, end=start + timedelta(hours=1), timezone="Europe/Berlin"
            ),
        )
    finally:
        outlook.close()
    booked = {
        "title": "Planning",
        "start": (start + timedelta(hours=3)).isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
        "organizer": ALICE,
        "rooms": [ROOM3],
        "setup_minutes": 30,
    }
    assert api.post("/api/v1/reservations", json=booked).status_code == 201

    answer = api.post(
        "/api/v1/freebusy",
        json={
            "mailboxes": [BOB, ROOM3, ERIN],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=8)).isoformat(),
        },
    )

    assert answer.status_code == 200, answer.text
    by_mailbox = {a["mailbox"]: a for a in answer.json()}
    assert [(b["source"], b["status"]) for b in by_mailbox[BOB]["busy"]] == [("exchange", "busy")]
    [room] = by_mailbox[ROOM3]["busy"]
    assert room["source"] == "rooms"
    assert room["start"].startswith(
        (start + timedelta(hours=2, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    )  # setup
    assert by_mailbox[ERIN] == {"mailbox": ERIN, "busy": [], "errors": []}  # asked on the Graph tenant


def test_rooms_are_searched_and_free_rooms_consult_both_sides(served: Installation) -> None:
    api = served.client(served.key("read"))
    assert [r["mailbox"] for r in api.get("/api/v1/rooms", params={"equipment": "projector"}).json()] == [
        ROOM1,
        ROOM3,
    ]
    assert [r["mailbox"] for r in api.get("/api/v1/rooms", params={"capacity": 10}).json()] == [ROOM3]
    assert [r["mailbox"] for r in api.get("/api/v1/rooms", params={"name": "room 2"}).json()] == [ROOM2]

    start = next_weekday_at(7, days=9)
    end = start + timedelta(hours=1)
    outlook = served.outlook()
    try:  # Room 1 invited from Outlook: taken in Exchange, unknown to ROOMS until the next cycle
        fields = EventFields(title="Invited", start=start, end=end, timezone="UTC", rooms=(ROOM1,))
        account = outlook.account(BOB)
        [sent] = account.bulk_create(
            folder=account.calendar,
            items=[outlook._item(BOB, fields)],
            send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,  # the room's booking policy accepts it
        )
        assert not isinstance(sent, Exception), sent
    finally:
        outlook.close()
    booker = served.client(served.key("book"))
    in_rooms = {"title": "Held", "start": start.isoformat(), "end": end.isoformat(), "organizer": ALICE}
    assert booker.post("/api/v1/reservations", json={**in_rooms, "rooms": [ROOM2]}).status_code == 201

    free = api.get("/api/v1/rooms/free", params={"start": start.isoformat(), "end": end.isoformat()})

    assert free.status_code == 200, free.text
    assert [r["mailbox"] for r in free.json()] == [ROOM3]
    wrong = api.get("/api/v1/rooms/free", params={"start": end.isoformat(), "end": start.isoformat()})
    assert wrong.status_code == 422
    assert "is not after start" in wrong.json()["detail"]


def test_status_filters_sync_test_and_sync_now(served: Installation) -> None:
    api = served.client(served.key("admin"))
    failed = api.post(f"/api/v1/admin/persons/{CAROL}/sync").json()
    assert not failed["ok"] and "refused the logon" in failed["error"]

    failing = api.get("/api/v1/admin/status", params={"failing": True}).json()["persons"]
    assert [p["email"] for p in failing] == [CAROL]
    assert failing[0]["last_fault"] == "credentials"
    assert failing[0]["last_error_plain"].startswith("Credentials refused: check the account")
    onprem = api.get("/api/v1/admin/status", params={"environment": "onprem"}).json()["persons"]
    assert {p["email"] for p in onprem} == {ALICE, BOB}
    assert [
        p["email"] for p in api.get("/api/v1/admin/status", params={"person": BOB}).json()["persons"]
    ] == [BOB]

    test = api.post(f"/api/v1/admin/persons/{CAROL}/test").json()
    assert not test["ok"]
    assert [(s["name"], s["ok"]) for s in test["steps"][:3]] == [
        ("assigned", True),
        ("plugin", True),
        ("connect", False),
    ]
    assert api.post(f"/api/v1/admin/persons/{ALICE}/test").json()["ok"] is True
    assert api.post("/api/v1/admin/persons/nobody@example.org/sync").status_code == 404

    log = api.get("/api/v1/admin/log", params={"person": CAROL}).json()
    assert log[0]["event"] == "failure"


def test_a_difference_is_reported_with_both_values_and_resolved(served: Installation) -> None:
    api = served.client(served.key("admin"))
    start = next_weekday_at(15, days=10)
    made = api.post(
        "/api/v1/reservations",
        json={
            "title": "Quarterly",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "organizer": BOB,
        },
    ).json()
    assert api.post(f"/api/v1/admin/persons/{BOB}/sync").json()["ok"]
    [link] = api.get(f"/api/v1/reservations/{made['id']}").json()["links"]
    outlook = served.outlook()
    try:  # edited in Outlook while the mailbox is not synchronised (the report reads both sides whole)
        item = outlook.account(BOB).calendar.get(id=link["item_id"])
        item.subject = "Quarterly (edited)"
        item.save(update_fields=["subject"])
    finally:
        outlook.close()

    report = api.get("/api/v1/admin/differences").json()  # everyone: carol's failure stops no one
    assert list(report["not_compared"]) == [CAROL]
    assert "refused the logon" in report["not_compared"][CAROL]
    found = [d for d in report["differences"] if d["reservation_id"] == made["id"]]

    assert [(d["kind"], d["values"]) for d in found] == [
        (
            "fields-differ",
            {"title": {"rooms": "Quarterly", "exchange": "Quarterly (edited)", "changed": "exchange"}},
        )
    ]
    [record] = api.get("/api/v1/admin/differences/stored", params={"person": BOB}).json()
    assert (record["id"], record["state"], record["changed_last"]) == (found[0]["id"], "open", "exchange")
    planned = api.post("/api/v1/admin/differences/repair", params={"dry_run": True, "person": BOB}).json()
    assert [(r["id"], r["policy"], r["resolution"]) for r in planned["repairs"]] == [
        (record["id"], "report", None)
    ]
    resolved = api.post(
        "/api/v1/admin/differences/resolve",
        json={
            "mailbox": BOB,
            "kind": "fields-differ",
            "reservation_id": made["id"],
            "resolution": "use-rooms",
        },
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved"] == "entry rewritten from the reservation"
    assert "Quarterly" in served.ews.calendar_subjects(BOB)
    assert "Quarterly (edited)" not in served.ews.calendar_subjects(BOB)
    [settled] = api.get(
        "/api/v1/admin/differences/stored", params={"state": "resolved", "person": BOB}
    ).json()
    assert settled["id"] == record["id"] and settled["state_by"]
    again = api.post(
        "/api/v1/admin/differences/resolve",
        json={
            "mailbox": BOB,
            "kind": "fields-differ",
            "reservation_id": made["id"],
            "resolution": "use-rooms",
        },
    )
    assert again.status_code == 404


def test_windows_no_calendar_holds_or_no_server_should_be_asked_for_are_refused(served: Installation) -> None:
    api = served.client(served.key("admin"))
    cases = {
        (
            "0001-01-01T00:10:03Z",
            "8385-07-17T00:32:29Z",
        ): "--start 0001-01-01T00:10:03+00:00 is outside 1900 to 9000",
        ("2030-01-01T00:00:00Z", "2032-01-01T00:00:00Z"): "the window is longer than 366 days",
    }
    for (start, end), words in cases.items():
        free = api.get("/api/v1/rooms/free", params={"start": start, "end": end})
        asked = api.post("/api/v1/freebusy", json={"mailboxes": [ALICE], "start": start, "end": end})
        for answer in (free, asked):
            assert answer.status_code == 422, answer.text
            assert words in answer.json()["detail"]
    far = {"title": "Far", "start": "0001-01-01T09:00:00Z", "end": "0001-01-01T10:00:00Z", "organizer": ALICE}
    refused = api.post("/api/v1/reservations", json=far)
    assert refused.status_code == 422
    assert "start 0001-01-01T09:00:00+00:00 is outside 1900 to 9000" in refused.json()["detail"]


def test_rooms_free_for_a_series_are_free_at_every_occurrence_in_rooms_and_exchange(
    served: Installation,
) -> None:
    api = served.client(served.key("admin"))
    start = next_weekday_at(6, days=12)
    end = start + timedelta(hours=1)
    second = start + timedelta(weeks=1)
    outlook = served.outlook()
    try:  # Room 3 invited from Outlook in the second week: busy only in Exchange
        fields = EventFields(
            title="Week two", start=second, end=second + timedelta(hours=1), timezone="UTC", rooms=(ROOM3,)
        )
        account = outlook.account(BOB)
        [sent] = account.bulk_create(
            folder=account.calendar,
            items=[outlook._item(BOB, fields)],
            send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,
        )
        assert not isinstance(sent, Exception), sent
    finally:
        outlook.close()
    weekly = {"frequency": "weekly", "weekdays": [start.strftime("%a")[:2].upper()], "count": 3}
    query = {"start": start.isoformat(), "end": end.isoformat(), "timezone": "UTC", "recurrence": weekly}

    free = api.post("/api/v1/rooms/free", json=query)

    assert free.status_code == 200, free.text
    assert free.json()["occurrences"] == 3
    assert datetime.fromisoformat(free.json()["checked_until"]) == end + timedelta(weeks=2)
    assert [r["mailbox"] for r in free.json()["rooms"]] == [ROOM2, ROOM1]
    single = api.post("/api/v1/rooms/free", json={**query, "recurrence": None}).json()
    assert (single["occurrences"], [r["mailbox"] for r in single["rooms"]]) == (1, [ROOM2, ROOM1, ROOM3])

    endless = api.post("/api/v1/rooms/free", json={**query, "recurrence": {**weekly, "count": None}}).json()
    assert 50 <= endless["occurrences"] <= 53  # an open-ended series: its first year
    assert datetime.fromisoformat(endless["checked_until"]) <= start + timedelta(days=366)

    windows = api.post("/api/v1/rooms/free", json={**query, "timezone": "W. Europe Standard Time"})
    assert windows.status_code == 200, windows.text  # Outlook's zone names are taken
    unknown = api.post("/api/v1/rooms/free", json={**query, "timezone": "Mars/Olympus"})
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["timezone"]
    assert "Mars/Olympus" in unknown.json()["errors"][0]["message"]
