"""Checking an entry against the limits its connector declared, before anything is written.

Exchange refuses some values outright, and EWS refuses a whole request for one of them (a
character XML cannot carry fails the schema validation of the entire CreateItem). Checking each
entry first is what keeps one bad reservation from failing the batch of its organizer: it is not
sent, and its problems name the field and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from roomsync.connector.types import WriteLimits
from roomsync.domain import EventFields

# Everything outside XML 1.0's Char production: C0 controls but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Problem:
    """One value the server cannot take: the field, in the words of the reservation, and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"


def problems(fields: EventFields, limits: WriteLimits) -> list[Problem]:
    """What in ``fields`` the server described by ``limits`` would refuse; empty when nothing."""
    found: list[Problem] = []
    texts = [("title", fields.title), ("description", fields.body)]
    texts += [(f"name of participant {p.email}", p.name) for p in fields.participants]
    texts += [
        (f"title of the occurrence of {o.original_start.isoformat()}", o.title)
        for o in fields.occurrences
        if o.title is not None
    ]
    if limits.max_title_length is not None:
        for name, text in texts:
            if (name == "title" or name.startswith("title of")) and len(text) > limits.max_title_length:
                found.append(
                    Problem(
                        name, f"is {len(text)} characters long; at most {limits.max_title_length} are taken"
                    )
                )
    if limits.xml_text:
        for name, text in texts:
            bad = _NOT_XML.search(text)
            if bad is not None:
                found.append(
                    Problem(
                        name,
                        f"holds the character U+{ord(bad.group()):04X} at position {bad.start() + 1}, "
                        "which cannot be sent",
                    )
                )
    found += _times(fields, limits)
    attendees = len(fields.participants) + len(fields.rooms)
    if limits.max_attendees is not None and attendees > limits.max_attendees:
        found.append(
            Problem(
                "participants",
                f"are {attendees} with the rooms; a meeting takes at most {limits.max_attendees}",
            )
        )
    return found


def _times(fields: EventFields, limits: WriteLimits) -> list[Problem]:
    if limits.earliest is None and limits.latest is None:
        return []
    times: list[tuple[str, datetime]] = [("start", fields.start), ("end", fields.end)]
    if fields.recurrence is not None and fields.recurrence.until is not None:
        until = fields.recurrence.until
        times.append(("series end", datetime(until.year, until.month, until.day, tzinfo=fields.start.tzinfo)))
    for change in fields.occurrences:
        for name, value in (("start", change.start), ("end", change.end)):
            if value is not None:
                times.append((f"{name} of the occurrence of {change.original_start.isoformat()}", value))
    found = []
    for name, value in times:
        if limits.earliest is not None and value < limits.earliest:
            found.append(Problem(name, f"{value.isoformat()} is before {limits.earliest.isoformat()}"))
        elif limits.latest is not None and value >= limits.latest:
            found.append(Problem(name, f"{value.isoformat()} is not before {limits.latest.isoformat()}"))
    return found
