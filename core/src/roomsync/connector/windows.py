"""Free/busy windows: what a connector checks before asking, and how it cuts a long one.

A server takes free/busy over a limited window (EWS 42 days by default, Graph under 62); a
connector declares its limit as ``Capabilities.max_freebusy_days`` and asks a longer window in
the pieces :func:`split_window` cuts, joining the answers again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from roomsync.connector.types import BusyInterval, FreeBusy
from roomsync.domain import ShowAs

Busy = tuple[datetime, datetime, ShowAs]
"""A busy time as the pieces answer it; an interval across a piece boundary comes in both."""


def require_window(start: datetime, end: datetime) -> None:
    """Refuse before any request a window a server would refuse: naive times, or no length."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must carry a time zone offset")
    if end <= start:
        raise ValueError(
            f"the window ends ({end.isoformat()}) before or when it starts ({start.isoformat()})"
        )


def split_window(start: datetime, end: datetime, longest: timedelta) -> list[tuple[datetime, datetime]]:
    """``start`` to ``end`` in consecutive pieces of at most ``longest``; none for an empty window."""
    if longest <= timedelta(0):
        raise ValueError(f"a window cannot be cut into pieces of {longest}")
    pieces = []
    while start < end:
        pieces.append((start, min(start + longest, end)))
        start += longest
    return pieces


def joined(
    mailboxes: Sequence[str], busy: Mapping[str, set[Busy]], errors: Mapping[str, str]
) -> list[FreeBusy]:
    """One answer per mailbox, in order, from the busy times of all pieces, each time once."""
    return [
        FreeBusy(
            mailbox=mailbox,
            intervals=tuple(BusyInterval(start=s, end=e, status=st) for s, e, st in sorted(busy[mailbox])),
            error=errors.get(mailbox),
        )
        for mailbox in mailboxes
    ]
