"""Free/busy through ``getSchedule``: 20 mailboxes per request, windows under 62 days.

The host hands at most 20 mailboxes per call (the connector's capabilities say so); longer
windows are asked in pieces and joined again. A request is sent as one of the mailboxes of its
tenant (``/users/{id}/calendar/getSchedule``); mailboxes of different tenants are asked through
their own tenants. Times are asked and answered in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsync.connector.types import FreeBusy
from roomsync.connector.windows import Busy, joined, split_window
from roomsync.domain import ShowAs
from roomsync_o365.errors import mailbox_error
from roomsync_o365.graph_client import GraphClient, GraphResponse, user
from roomsync_o365.mapping import parse_time
from roomsync_o365.tokens import TenantTokens

MAX_MAILBOXES = 20
MAX_WINDOW = timedelta(days=61)
"""Graph refuses windows of 62 days and more."""
INTERVAL_MINUTES = 30
CALLER_TRIES = 3
_STATUS = {"tentative": ShowAs.TENTATIVE, "busy": ShowAs.BUSY, "oof": ShowAs.OOF}
"""Free, workingElsewhere and unknown are not busy."""


def windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The pieces ``getSchedule`` is asked for, each under 62 days."""
    return split_window(start, end, MAX_WINDOW)


def _time(value: datetime) -> dict[str, str]:
    return {
        "dateTime": value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "timeZone": "UTC",
    }


def free_busy(
    client: GraphClient,
    tokens_for: Callable[[str], TenantTokens],
    mailboxes: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[FreeBusy]:
    """One answer per mailbox, in order; a mailbox Graph could not read carries its error."""
    busy: dict[str, set[Busy]] = {m: set() for m in mailboxes}
    errors: dict[str, str] = {}
    groups: dict[int, tuple[TenantTokens, list[str]]] = {}
    for mailbox in dict.fromkeys(mailboxes):
        tokens = tokens_for(mailbox)
        groups.setdefault(id(tokens), (tokens, []))[1].append(mailbox)
    for tokens, group in groups.values():
        for offset in range(0, len(group), MAX_MAILBOXES):
            chunk = group[offset : offset + MAX_MAILBOXES]
            for piece_start, piece_end in windows(start, end):
                answer = _ask(client, tokens, chunk, piece_start, piece_end)
                for schedule in answer:
                    mailbox = str(schedule.get("scheduleId", "")).lower()
                    if mailbox not in busy:
                        continue
                    error = schedule.get("error")
                    if error:
                        errors[mailbox] = str(error.get("message") or error.get("responseCode") or error)
                        continue
                    for item in schedule.get("scheduleItems") or ():
                        status = _STATUS.get(str(item.get("status", "")).lower())
                        if status is not None:
                            # An item across a piece boundary comes back in both pieces: the set joins it.
                            busy[mailbox].add(
                                (
                                    parse_time(item.get("start")).astimezone(UTC),
                                    parse_time(item.get("end")).astimezone(UTC),
                                    status,
                                )
                            )
    return joined(mailboxes, busy, errors)


def _ask(
    client: GraphClient, tokens: TenantTokens, chunk: list[str], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """``getSchedule`` for a chunk, sent as one of its mailboxes (the next if that one is unknown)."""
    body = {
        "schedules": chunk,
        "startTime": _time(start),
        "endTime": _time(end),
        "availabilityViewInterval": INTERVAL_MINUTES,
    }
    answer = GraphResponse(0)
    for caller in chunk[:CALLER_TRIES]:
        answer = client.send(
            tokens,
            "POST",
            user(caller, "calendar", "getSchedule"),
            body=body,
            headers={"Prefer": 'outlook.timezone="UTC"'},
            idempotent=True,
        )
        if answer.ok and isinstance(answer.body, dict):
            return list(answer.body.get("value") or ())
        if answer.status != 404:
            break
    raise mailbox_error(answer, chunk[0], tokens.who, client.graph_url)
