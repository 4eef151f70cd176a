"""Checking an entry against the limits its connector declared, before anything is written.

Exchange refuses some values outright, and EWS refuses a whole request for one of them (a
character XML cannot carry fails the schema validation of the entire CreateItem). Checking each
entry first is what keeps one bad reservation from failing the batch of its organizer: it is not
sent, and its problems name the field and the reason.

A :class:`Problem` is data (a :class:`Code`, the value's :class:`Where`, the numbers): its
``str`` is the English of the log and the administrators' mail, :func:`problem_facts` the facts
the organizer's mail words in their language (listed in :mod:`roomsync.notify.wording`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from roomsync.connector.types import WriteLimits
from roomsync.domain import EventFields

# Everything outside XML 1.0's Char production: C0 controls but tab, newline and carriage
# return, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Code(StrEnum):
    """Why a value cannot be taken; what :attr:`Problem.value` and :attr:`Problem.limit` hold."""

    TOO_LONG = "too-long"  # value: its length in characters; limit: the most taken
    CHARACTER = "character"  # value: the position (from 1) of the first character refused
    TOO_MANY_ATTENDEES = "too-many-attendees"  # value: participants and rooms; limit: the most taken
    TOO_EARLY = "too-early"  # value: the time; limit: the earliest time taken
    TOO_LATE = "too-late"  # value: the time; limit: the first time no longer taken


class Where(StrEnum):
    """The value a problem is about."""

    TITLE = "title"
    DESCRIPTION = "description"
    PARTICIPANT_NAME = "participant-name"  # Problem.participant: whose
    PARTICIPANTS = "participants"  # with the rooms: the attendees of the meeting
    START = "start"
    END = "end"
    SERIES_END = "series-end"
    OCCURRENCE_TITLE = "occurrence-title"  # Problem.occurrence: which, by its original start
    OCCURRENCE_START = "occurrence-start"
    OCCURRENCE_END = "occurrence-end"


@dataclass(frozen=True)
class Problem:
    """One value the server cannot take: which value, why, and the numbers of the reason."""

    code: Code
    where: Where
    value: int | datetime
    limit: int | datetime | None = None
    character: int | None = None  # CHARACTER: the code point refused
    participant: str | None = None  # PARTICIPANT_NAME: the participant's address
    occurrence: datetime | None = None  # OCCURRENCE_*: the occurrence's original start

    @property
    def field(self) -> str:
        """The value in the words of the reservation (English)."""
        of = self.occurrence.isoformat() if self.occurrence is not None else ""
        match self.where:
            case Where.PARTICIPANT_NAME:
                return f"name of participant {self.participant}"
            case Where.SERIES_END:
                return "series end"
            case Where.OCCURRENCE_TITLE | Where.OCCURRENCE_START | Where.OCCURRENCE_END:
                return f"{self.where.value.removeprefix('occurrence-')} of the occurrence of {of}"
            case _:
                return self.where.value

    @property
    def reason(self) -> str:
        """Why the server cannot take it (English)."""
        match self.code:
            case Code.TOO_LONG:
                return f"is {self.value} characters long; at most {self.limit} are taken"
            case Code.CHARACTER:
                code_point = f"U+{self.character or 0:04X}"
                return f"holds the character {code_point} at position {self.value}, which cannot be sent"
            case Code.TOO_MANY_ATTENDEES:
                return f"are {self.value} with the rooms; a meeting takes at most {self.limit}"
            case Code.TOO_EARLY:
                return f"{_iso(self.value)} is before {_iso(self.limit)}"
            case Code.TOO_LATE:
                return f"{_iso(self.value)} is not before {_iso(self.limit)}"

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"


def _iso(moment: int | datetime | None) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


def problems(fields: EventFields, limits: WriteLimits) -> list[Problem]:
    """What in ``fields`` the server described by ``limits`` would refuse; empty when nothing."""
    found: list[Problem] = []
    # (which value, its text, whose name, which occurrence)
    texts: list[tuple[Where, str, str | None, datetime | None]] = [
        (Where.TITLE, fields.title, None, None),
        (Where.DESCRIPTION, fields.body, None, None),
    ]
    texts += [(Where.PARTICIPANT_NAME, p.name, p.email, None) for p in fields.participants]
    texts += [
        (Where.OCCURRENCE_TITLE, o.title, None, o.original_start)
        for o in fields.occurrences
        if o.title is not None
    ]
    if limits.max_title_length is not None:
        longest = limits.max_title_length
        for where, text, _, occurrence in texts:
            if where in (Where.TITLE, Where.OCCURRENCE_TITLE) and len(text) > longest:
                found.append(Problem(Code.TOO_LONG, where, len(text), longest, occurrence=occurrence))
    if limits.xml_text:
        for where, text, participant, occurrence in texts:
            bad = _NOT_XML.search(text)
            if bad is not None:
                found.append(
                    Problem(
                        Code.CHARACTER,
                        where,
                        bad.start() + 1,
                        character=ord(bad.group()),
                        participant=participant,
                        occurrence=occurrence,
                    )
                )
    found += _times(fields, limits)
    attendees = len(fields.participants) + len(fields.rooms)
    if limits.max_attendees is not None and attendees > limits.max_attendees:
        found.append(Problem(Code.TOO_MANY_ATTENDEES, Where.PARTICIPANTS, attendees, limits.max_attendees))
    return found


def _times(fields: EventFields, limits: WriteLimits) -> list[Problem]:
    if limits.earliest is None and limits.latest is None:
        return []
    times: list[tuple[Where, datetime, datetime | None]] = [
        (Where.START, fields.start, None),
        (Where.END, fields.end, None),
    ]
    if fields.recurrence is not None and fields.recurrence.until is not None:
        until = fields.recurrence.until
        end = datetime(until.year, until.month, until.day, tzinfo=fields.start.tzinfo)
        times.append((Where.SERIES_END, end, None))
    for change in fields.occurrences:
        for where, value in ((Where.OCCURRENCE_START, change.start), (Where.OCCURRENCE_END, change.end)):
            if value is not None:
                times.append((where, value, change.original_start))
    found = []
    for where, value, occurrence in times:
        if limits.earliest is not None and value < limits.earliest:
            found.append(Problem(Code.TOO_EARLY, where, value, limits.earliest, occurrence=occurrence))
        elif limits.latest is not None and value >= limits.latest:
            found.append(Problem(Code.TOO_LATE, where, value, limits.latest, occurrence=occurrence))
    return found


def problem_facts(found: list[Problem], zone: tzinfo) -> dict[str, str | int]:
    """The problems as the facts of a ``not-written`` notification: ``problem_1``, ``problem_1_field``,
    ... (the encoding is in :mod:`roomsync.notify.wording`); times in ISO 8601 in ``zone``."""
    facts: dict[str, str | int] = {}
    for number, problem in enumerate(found, start=1):
        key = f"problem_{number}"
        facts[key] = problem.code.value
        facts[f"{key}_field"] = problem.where.value
        facts[f"{key}_value"] = _fact(problem.value, zone)
        if problem.limit is not None:
            facts[f"{key}_limit"] = _fact(problem.limit, zone)
        if problem.character is not None:
            facts[f"{key}_character"] = problem.character
        if problem.participant is not None:
            facts[f"{key}_participant"] = problem.participant
        if problem.occurrence is not None:
            facts[f"{key}_occurrence"] = _fact(problem.occurrence, zone)
    return facts


def _fact(value: int | datetime, zone: tzinfo) -> str | int:
    if not isinstance(value, datetime):
        return value
    try:
        return value.astimezone(zone).isoformat()
    except (OverflowError, ValueError):  # at the ends of the calendar: as it is
        return value.isoformat()
