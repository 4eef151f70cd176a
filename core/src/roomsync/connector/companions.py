"""Setup and follow-up buffers as entries of their own, so Exchange's free/busy shows them.

ROOMS books a room with time to prepare it before a meeting and to clear it after. Exchange
knows nothing of that, so a connector that wants the buffers busy in Exchange writes each as a
*companion* entry next to the meeting: same rooms and status, no participants (nobody is
invited to the preparation), the meeting's own times untouched. A companion carries the
meeting's stamp with a suffix, so it is found with the same lookup and never mistaken for an
entry of its own; connectors keep companions out of what they report to the engine.

A connector creates the companions of new entries with :func:`companion_drafts`; after updates
it looks up :func:`companion_lookups` and lets :func:`reconcile_companions` say which companions
to rewrite, add and remove, so that only the writing is its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from roomsync.connector.types import EntryDraft, EntryUpdate
from roomsync.domain import EventFields, OccurrenceChange, ShowAs

SEPARATOR = "#"


class Buffer(StrEnum):
    SETUP = "setup"
    FOLLOWUP = "followup"


_TITLES = {Buffer.SETUP: "Setup: {}", Buffer.FOLLOWUP: "Follow-up: {}"}


def companion_stamp(stamp: str, kind: Buffer) -> str:
    return f"{stamp}{SEPARATOR}{kind.value}"


def companion_stamps(stamp: str) -> list[str]:
    return [companion_stamp(stamp, kind) for kind in Buffer]


def is_companion(stamp: str | None) -> bool:
    return stamp is not None and SEPARATOR in stamp


def companions(fields: EventFields, setup_minutes: int, followup_minutes: int) -> dict[Buffer, EventFields]:
    """The companion entries of a meeting with these buffers; none for a meeting shown as free.

    A series' buffers follow its pattern and its modified and cancelled occurrences. A buffer
    that would start on another day than the meeting would fall on other weekdays than the
    series; such a series gets no companion for it (ROOMS still counts the buffer).
    """
    if fields.show_as is ShowAs.FREE:
        return {}
    found: dict[Buffer, EventFields] = {}
    for kind, minutes in ((Buffer.SETUP, setup_minutes), (Buffer.FOLLOWUP, followup_minutes)):
        if minutes <= 0:
            continue
        companion = _companion(fields, kind, timedelta(minutes=minutes))
        if companion is not None:
            found[kind] = companion
    return found


def companion_drafts(written: Sequence[EntryDraft | EntryUpdate]) -> list[EntryDraft]:
    """Drafts of the setup and follow-up entries of what is being written, in order.

    A companion of a known-new entry is known new too: nothing was written for it before.
    """
    drafts = []
    for entry in written:
        known_new = isinstance(entry, EntryDraft) and entry.known_new
        for kind, fields in companions(entry.fields, entry.setup_minutes, entry.followup_minutes).items():
            drafts.append(
                EntryDraft(stamp=companion_stamp(entry.stamp, kind), fields=fields, known_new=known_new)
            )
    return drafts


def companion_lookups(updates: Sequence[EntryUpdate]) -> list[str]:
    """The stamps under which the companions of updated entries may exist: none for an entry
    the engine knows was written without (``companions`` False), so that a batch of updates
    without buffers costs no lookup."""
    return [stamp for update in updates if update.companions for stamp in companion_stamps(update.stamp)]


def has_companions(fields: EventFields, setup_minutes: int, followup_minutes: int) -> bool:
    """Whether writing an entry with these buffers writes companions beside it."""
    return bool(companions(fields, setup_minutes, followup_minutes))


@dataclass(frozen=True)
class CompanionChanges:
    """What brings the companions of updated entries in line with them."""

    update: tuple[EntryUpdate, ...] = ()
    """Companions that exist and are rewritten (without a change key: they are ours alone)."""
    create: tuple[EntryDraft, ...] = ()
    """Companions an update now needs; ``known_new``, since their lookup found none."""
    delete: tuple[str, ...] = ()
    """Item ids of companions no update needs any more."""


def reconcile_companions(updates: Sequence[EntryUpdate], existing: Mapping[str, str]) -> CompanionChanges:
    """Which companions to rewrite, create and delete after ``updates`` were written.

    ``existing`` maps the stamps of the companions found (under :func:`companion_lookups`) to
    their item ids.
    """
    wanted = {draft.stamp: draft for draft in companion_drafts(updates)}
    return CompanionChanges(
        update=tuple(
            EntryUpdate(item_id=existing[stamp], stamp=stamp, fields=draft.fields)
            for stamp, draft in wanted.items()
            if stamp in existing
        ),
        create=tuple(
            draft.model_copy(update={"known_new": True})
            for stamp, draft in wanted.items()
            if stamp not in existing
        ),
        delete=tuple(item_id for stamp, item_id in existing.items() if stamp not in wanted),
    )


def _companion(fields: EventFields, kind: Buffer, length: timedelta) -> EventFields | None:
    if kind is Buffer.SETUP:
        start, end = fields.start - length, fields.start
    else:
        start, end = fields.end, fields.end + length
    if fields.recurrence is not None:
        zone = ZoneInfo(fields.timezone)
        if start.astimezone(zone).date() != fields.start.astimezone(zone).date():
            return None
    occurrences = tuple(_occurrence(change, kind, length, fields.duration) for change in fields.occurrences)
    return fields.model_copy(
        update={
            "title": _TITLES[kind].format(fields.title),
            "start": start,
            "end": end,
            "participants": (),
            "reminder_minutes": None,
            "body": f"{'Setup' if kind is Buffer.SETUP else 'Follow-up'} time of '{fields.title}', "
            "booked in ROOMS.",
            "occurrences": occurrences,
        }
    )


def _occurrence(
    change: OccurrenceChange, kind: Buffer, length: timedelta, duration: timedelta
) -> OccurrenceChange:
    # The buffer of an occurrence originally started a buffer's length before it, or as it ended.
    original = change.original_start - length if kind is Buffer.SETUP else change.original_start + duration
    if change.cancelled or change.start is None or change.end is None:
        return OccurrenceChange(original_start=original, cancelled=True)
    if kind is Buffer.SETUP:
        start, end = change.start - length, change.start
    else:
        start, end = change.end, change.end + length
    title = _TITLES[kind].format(change.title) if change.title is not None else None
    return OccurrenceChange(original_start=original, start=start, end=end, title=title)
