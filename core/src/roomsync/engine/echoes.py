"""Our own writes reported back by the change feed, known from the links instead of read again.

A connector reports an item still in the version its own write left it in as *unchanged*
(:attr:`~roomsync.connector.types.ChangeSet.unchanged`): item id and change key, no content.
The link of that item stored the same change key when the write was settled, so the entry holds
exactly what the link's snapshots say and there is nothing to plan on it.

Only when the settling was lost (the cycle failed after the write, before its commit, and the
process lived on) does the link hold an older change key, or, for a create, not the item at
all: then the entry is read by its stamp, a lookup the plan's ordinary recovery would have made too.
Without it, an entry whose create was never settled would stay unseen for good, and a
reservation handed to another organizer meanwhile would keep it as a second entry.
"""

from __future__ import annotations

from collections.abc import Mapping

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry
from roomsync.storage.protocols import Link


def stale(
    unchanged: Mapping[str, str], by_item: Mapping[str, Link], stamps: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Reservation id → item id of the echoes the links cannot vouch for: those whose link holds
    another change key, and those no link knows (by their stamp in ``stamps``, item id →
    reservation id), such as a create whose settling was lost."""
    stamps = stamps or {}
    wanted: dict[str, str] = {}
    for item_id, change_key in unchanged.items():
        link = by_item.get(item_id)
        if link is not None:
            if link.change_key != change_key:
                wanted[link.reservation_id] = item_id
        elif (reservation_id := stamps.get(item_id)) is not None:
            wanted[reservation_id] = item_id
    return wanted


def read_stale_echoes(
    host: ConnectorHost,
    mailbox: str,
    unchanged: Mapping[str, str],
    by_item: Mapping[str, Link],
    stamps: Mapping[str, str] | None = None,
) -> list[CalendarEntry]:
    """The entries of echoes the links cannot vouch for, read by their stamps (none usually).

    An echo no link knows and without a stamp is an entry of ours written without one (a
    buffer): as unchanged as the write left it, there is nothing to do with it."""
    wanted = stale(unchanged, by_item, stamps)
    if not wanted:
        return []
    found = host.find_by_stamp(mailbox, list(wanted))
    return [
        entry
        for stamp, entries in found.items()
        for entry in entries
        if entry.is_own and entry.item_id == wanted.get(stamp)
    ]
