"""A room booked from the Outlook add-in through the API: Outlook writes the entry, never roomsync."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from roomsync import addin_mark
from roomsync.domain import EventFields
from roomsync.stamps import StampCodec
from roomsync_ews_common import stamp as props
from support import ALICE, ROOM1, Installation, next_weekday_at


def _pane_booking(title: str, hour: int) -> dict[str, Any]:
    start = next_weekday_at(hour, days=6)
    return {
        "title": title,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "timezone": "Europe/Zurich",
        "organizer": ALICE,
        "rooms": [ROOM1],
        "from_outlook": True,
    }


def _send_from_outlook(served: Installation, booked: dict[str, Any]) -> None:
    """Alice sends the meeting: Outlook saves it with the add-in's custom properties."""
    from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

    user = served.outlook()
    fields = EventFields.model_validate(
        {
            "title": booked["title"],
            "start": booked["start"],
            "end": booked["end"],
            "timezone": "Europe/Zurich",
            "rooms": [ROOM1],
        }
    )
    item = user.connector_class.build_item(user.account(ALICE), fields, "")
    for name in (props.STAMP, props.TIMEZONE, props.SETUP, props.FOLLOWUP):
        setattr(item, name, None)
    stamp = StampCodec(served.database.installation()).encode(booked["id"])
    setattr(item, props.ADDIN, addin_mark.custom_properties(stamp))
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    user.close()


def test_a_pane_booking_waits_for_outlook_and_is_linked_to_the_sent_meeting(served: Installation) -> None:
    api = served.client(served.key("admin"))
    made = api.post("/api/v1/reservations", json=_pane_booking("Pane booking", 9))
    assert made.status_code == 201, made.text
    booked = made.json()
    shown = api.get(f"/api/v1/reservations/{booked['id']}").json()
    assert [link["state"] for link in shown["links"]] == ["awaiting"]

    synced = api.post(f"/api/v1/admin/persons/{ALICE}/sync").json()
    assert synced["ok"] and synced["created"] == 0, synced
    assert "Pane booking" not in served.ews.calendar_subjects(ALICE)

    _send_from_outlook(served, booked)
    synced = api.post(f"/api/v1/admin/persons/{ALICE}/sync").json()
    assert synced["ok"] and synced["created"] == 0, synced
    assert served.ews.calendar_subjects(ALICE).count("Pane booking") == 1
    shown = api.get(f"/api/v1/reservations/{booked['id']}").json()
    assert [link["state"] for link in shown["links"]] == ["synced"], (synced, shown)
    assert shown["reservation"]["version"] == booked["version"], {
        k: (v, shown["reservation"][k]) for k, v in booked.items() if shown["reservation"][k] != v
    }
    again = api.post(f"/api/v1/admin/persons/{ALICE}/sync").json()
    assert again["ok"] and not any(again[k] for k in ("created", "updated", "deleted")), again
