"""The buffer entries written beside an entry (see :mod:`roomsync.buffers`), as drafts."""

from __future__ import annotations

from collections.abc import Sequence

from roomsync.buffers import companion_stamp, companions
from roomsync.model import EntryDraft, EntryUpdate


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
