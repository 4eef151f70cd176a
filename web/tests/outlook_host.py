"""Outlook, for the task pane's tests: what it writes into a mailbox when the user clicks Send.

The Office.js double in the browser hands the meeting being written (time, subject, attendees,
resources, location and the add-in's saved custom properties) to :meth:`OutlookHost.send`, which
writes it into the organizer's mailbox in the simulator the way Outlook does: over EWS with
exchangelib for Exchange 2013 (the custom properties as the PS_PUBLIC_STRINGS named property),
over Graph for Exchange Online (the same property as a single-value extended property). Moving
the meeting afterwards is the user's edit in Outlook, outside roomsync.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, CalendarItem
from exchangelib.properties import Attendee, Mailbox

from roomsync_ews_common import stamp as ews_props
from roomsync_o365 import properties as graph_props
from roomsync_o365.graph_client import user as graph_user
from roomsync_o365.testing import GraphUser
from support import Installation

UTC_ZONE = EWSTimeZone("UTC")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _ews_time(value: datetime) -> EWSDateTime:
    return EWSDateTime.from_datetime(value.astimezone(UTC)).astimezone(UTC_ZONE)


@dataclass
class OutlookHost:
    served: Installation
    organizer: str
    environment: str  # "onprem" (Exchange 2013, EWS) or "online" (Exchange Online, Graph)

    def send(self, meeting: dict[str, Any]) -> str:
        """Outlook saves and sends the meeting; the new item's id."""
        mark = json.dumps(meeting["customProperties"], separators=(",", ":"))
        if self.environment == "onprem":
            return self._send_ews(meeting, mark)
        return self._send_graph(meeting, mark)

    def move(self, item_id: str, by: timedelta) -> None:
        """The organizer drags the sent meeting to another time in Outlook (updates are sent)."""
        if self.environment == "onprem":
            user = self.served.outlook()
            account = user.account(self.organizer)
            item = account.calendar.get(id=item_id)
            item.start, item.end = item.start + by, item.end + by
            item.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
            user.close()
            return
        graph = GraphUser(self.served.graph)
        event = graph.send("GET", graph_user(self.organizer, "events", item_id))
        assert {event["start"]["timeZone"], event["end"]["timeZone"]} == {"UTC"}, event  # Graph's default
        times = {
            key: {
                "dateTime": (datetime.fromisoformat(event[key]["dateTime"][:19]) + by).isoformat(),
                "timeZone": "UTC",
            }
            for key in ("start", "end")
        }
        graph.send("PATCH", graph_user(self.organizer, "events", item_id), times)

    def resources(self, item_id: str) -> list[str]:
        """The addresses the organizer's item has as resources (rooms), as the server keeps them."""
        if self.environment == "onprem":
            user = self.served.outlook()
            item = user.account(self.organizer).calendar.get(id=item_id)
            user.close()
            return sorted(r.mailbox.email_address.lower() for r in item.resources or ())
        event = GraphUser(self.served.graph).send("GET", graph_user(self.organizer, "events", item_id))
        return sorted(
            a["emailAddress"]["address"].lower() for a in event["attendees"] if a["type"] == "resource"
        )

    def _send_ews(self, meeting: dict[str, Any], mark: str) -> str:
        user = self.served.outlook()
        account = user.account(self.organizer)
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject=meeting["subject"],
            start=_ews_time(_instant(meeting["start"])),
            end=_ews_time(_instant(meeting["end"])),
            location=meeting["location"] or None,
            required_attendees=[
                Attendee(mailbox=Mailbox(email_address=a["emailAddress"], name=a["displayName"]))
                for a in meeting["requiredAttendees"]
            ]
            or None,
            resources=[
                Attendee(mailbox=Mailbox(email_address=r["emailAddress"], name=r["displayName"]))
                for r in meeting["resources"]
            ]
            or None,
        )
        setattr(item, ews_props.ADDIN, mark)
        item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
        user.close()
        return str(item.id)

    def _send_graph(self, meeting: dict[str, Any], mark: str) -> str:
        def attendee(recipient: dict[str, str], kind: str) -> dict[str, Any]:
            return {
                "emailAddress": {"address": recipient["emailAddress"], "name": recipient["displayName"]},
                "type": kind,
            }

        def time(value: str) -> dict[str, str]:
            return {"dateTime": _instant(value).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}

        event = {
            "subject": meeting["subject"],
            "start": time(meeting["start"]),
            "end": time(meeting["end"]),
            "location": {"displayName": meeting["location"]},
            "attendees": [attendee(a, "required") for a in meeting["requiredAttendees"]]
            + [attendee(r, "resource") for r in meeting["resources"]],
            "singleValueExtendedProperties": [{"id": graph_props.ADDIN, "value": mark}],
        }
        created = GraphUser(self.served.graph).send("POST", graph_user(self.organizer, "events"), event)
        return str(created["id"])
