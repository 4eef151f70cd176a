"""``calendar/getSchedule``: free/busy of up to 20 mailboxes over a window shorter than 62 days.

Each schedule gets its items (status, and for events that are not private the subject and
location, as an app with Calendars.Read sees them), a merged ``availabilityView`` (a digit per
interval: 0 free or working elsewhere, 1 tentative, 2 busy, 3 out of office) and working hours
(Monday to Friday, 08:00-17:00 in the mailbox's zone). An address without a mailbox gets an
entry with an ``error``; the others are answered as usual. Times are in the zone of
``Prefer: outlook.timezone`` (UTC otherwise).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from roomsync_sim.graph import timefmt
from roomsync_sim.graph.errors import GraphError, bad_request
from roomsync_sim.graph.events import calendar_items, in_window
from roomsync_sim.graph.router import USER, Router
from roomsync_sim.graph.service import Call, Reply
from roomsync_sim.properties import master_times

MAX_SCHEDULES = 20
MAX_WINDOW = timedelta(days=62)
_DIGIT = {"Free": "0", "WorkingElsewhere": "0", "Tentative": "1", "Busy": "2", "OOF": "3", "NoData": "0"}
_RANK = {"Free": 0, "NoData": 0, "WorkingElsewhere": 1, "Tentative": 2, "Busy": 3, "OOF": 4}
_STATUS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}


def _items(
    call: Call, smtp: str, start: datetime, end: datetime, zone: str
) -> list[tuple[datetime, datetime, str, dict[str, Any]]]:
    mbx = call.tenant.store.mailbox(smtp)
    found = []
    for item in calendar_items(mbx) if mbx is not None else []:
        if item.meeting.get("cancelled"):
            continue
        for master, occ in in_window(item, start, end):
            props = {**master.props, **(occ.overrides if occ else {})}
            status_elem = props.get("LegacyFreeBusyStatus")
            status = (status_elem.text if status_elem is not None else None) or "Busy"
            s, e = (occ.start, occ.end) if occ else master_times(master)
            sensitivity = props.get("Sensitivity")
            private = sensitivity is not None and sensitivity.text in ("Private", "Confidential")
            entry: dict[str, Any] = {"isPrivate": private, "status": _STATUS.get(status, "busy")}
            if not private:
                subject, location = props.get("Subject"), props.get("Location")
                entry["subject"] = subject.text or "" if subject is not None else ""
                entry["location"] = location.text or "" if location is not None else ""
            entry["start"] = timefmt.dtz(s, zone)
            entry["end"] = timefmt.dtz(e, zone)
            found.append((s, e, status, entry))
    found.sort(key=lambda f: (f[0], f[1]))
    return found


def _merged(
    items: list[tuple[datetime, datetime, str, dict[str, Any]]], start: datetime, end: datetime, minutes: int
) -> str:
    step = timedelta(minutes=minutes)
    slots = max(1, math.ceil((end - start) / step))
    ranks = [0] * slots
    names = ["Free"] * slots
    for s, e, status, _ in items:
        first = max(0, int((s - start) // step))
        last = min(slots, math.ceil((e - start) / step))
        for i in range(first, last):
            if _RANK.get(status, 3) > ranks[i]:
                ranks[i], names[i] = _RANK.get(status, 3), status
    return "".join(_DIGIT.get(n, "2") for n in names)


def get_schedule(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise bad_request("The request body must be a JSON object.", "RequestBodyRead")
    lowered = {k.lower(): v for k, v in body.items()}
    schedules = lowered.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        raise bad_request("schedules must name at least one mailbox.", "ErrorInvalidParameter")
    if len(schedules) > MAX_SCHEDULES:
        raise GraphError(
            400,
            "ErrorMailboxDataArrayTooBig",
            f"There are too many target users in the schedules. The allowed size = {MAX_SCHEDULES}; "
            f"the actual size = {len(schedules)}.",
        )
    start, _ = timefmt.read_dtz(lowered.get("starttime"), "startTime")
    end, _ = timefmt.read_dtz(lowered.get("endtime"), "endTime")
    if end <= start:
        raise GraphError(400, "ErrorInvalidTimeInterval", "The specified time interval is invalid.")
    if end - start >= MAX_WINDOW:
        raise GraphError(
            400,
            "ErrorTimeIntervalTooBig",
            f"The time period to look up must be less than 62 days; the actual period is "
            f"{math.ceil((end - start) / timedelta(days=1))} days.",
        )
    interval = int(lowered.get("availabilityviewinterval") or 30)
    if not 5 <= interval <= 1440:
        raise GraphError(400, "ErrorInvalidParameter", "availabilityViewInterval must be between 5 and 1440.")
    zone = call.view().zone
    value: list[dict[str, Any]] = []
    for address in schedules:
        smtp = str(address).strip().lower()
        user = call.tenant.directory.user(smtp)
        if user is None or call.tenant.store.mailbox(smtp) is None:
            value.append(
                {
                    "scheduleId": str(address),
                    "availabilityView": "",
                    "scheduleItems": [],
                    "error": {
                        "message": (
                            f"Unable to resolve e-mail address <>SMTP:{smtp} to an Active Directory object."
                        ),
                        "responseCode": "ErrorMailRecipientNotFound",
                    },
                }
            )
            continue
        items = _items(call, smtp, start, end, zone)
        value.append(
            {
                "scheduleId": str(address),
                "availabilityView": _merged(items, start, end, interval),
                "scheduleItems": [i[3] for i in items],
                "workingHours": {
                    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                    "startTime": "08:00:00.0000000",
                    "endTime": "17:00:00.0000000",
                    "timeZone": {"name": user.time_zone or "UTC"},
                },
            }
        )
    headers = (
        [("Preference-Applied", f'outlook.timezone="{zone}"')] if call.prefer("outlook.timezone") else []
    )
    return Reply(
        200,
        {
            "@odata.context": f"{call.base}/$metadata#Collection(microsoft.graph.scheduleInformation)",
            "value": value,
        },
        headers,
    )


def register(router: Router) -> None:
    router.add("POST", f"{USER}/calendar/getSchedule", "getSchedule", get_schedule)
