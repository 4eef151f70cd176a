"""Our own writes reported back by the change feed, known from the links instead of read again.

A connector reports an item still in the version its own write left it in as *unchanged*
(:attr:`~roomsync.connector.types.ChangeSet.unchanged`): item id and change key, no content.
The link of that item stored the same change key when the write was settled, so the entry holds
exactly what the link's snapshots say and there is nothing to plan on it.

Only when the settling was lost (the cycle failed after the write, before its commit, and the
process lived on) does the link hold an older change key: then the entry is read by its stamp,
a lookup the plan's ordinary recovery would have made too.
"""

from __future__ import annotations

from collections.abc import Mapping

from roomsync.connector.host import ConnectorHost
from roomsync.connector.types import CalendarEntry
from roomsync.storage.protocols import Link


def stale(unchanged: Mapping[str, str], by_item: Mapping[str, Link]) -> dict[str, str]:
    """Reservation id → item id of the echoes whose link does not hold the echoed change key."""
    return {
        link.reservation_id: item_id
        for item_id, change_key in unchanged.items()
        if (link := by_item.get(item_id)) is not None and link.change_key != change_key
    }


def read_stale_echoes(
    host: ConnectorHost, mailbox: str, unchanged: Mapping[str, str], by_item: Mapping[str, Link]
) -> list[CalendarEntry]:
    """The entries of echoes the links cannot vouch for, read by their stamps (none usually).

    An echo without any link is an entry of ours the engine has let go (its link dropped): as
    unchanged as the write left it, there is nothing to do with it either."""
    wanted = stale(unchanged, by_item)
    if not wanted:
        return []
    found = host.find_by_stamp(mailbox, list(wanted))
    return [
        entry
        for stamp, entries in found.items()
        for entry in entries
        if entry.is_own and entry.item_id == wanted.get(stamp)
    ]
