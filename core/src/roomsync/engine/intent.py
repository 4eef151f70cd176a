"""Writes in flight: recorded before they are sent, recognised afterwards whatever their fate.

A write whose answer was lost (the process killed while the answer was in flight, a connection
dropped after the server applied it) left the server holding roomsync's value while the link
still holds the snapshots from before. Compared with those, the value looks like an Outlook
edit, and the next ROOMS edit of the same field like a conflict. The link therefore records the
write before it is sent, and a server value equal to it is taken for what it is: our own write.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from roomsync.engine.merge import Snapshot
from roomsync.storage.protocols import Link


def intent(rooms: Snapshot, exchange: Snapshot) -> dict[str, Any]:
    """What a link records before a write: both sides' snapshots once the write has landed."""
    return {"rooms": rooms, "exchange": exchange}


def recognise(link: Link, current: Snapshot) -> Link:
    """The link with every field the server holds as roomsync last wrote it counted as in step.

    Per merge key: where the entry's value equals the written one, both bases move to what the
    write carried, so neither side looks changed by it; other keys keep their bases. The record
    is used once and cleared.
    """
    if link.written is None:
        return link
    rooms = dict(link.rooms_snapshot or {})
    exchange = dict(link.exchange_snapshot or {})
    wrote_rooms, wrote_exchange = link.written["rooms"], link.written["exchange"]
    for key, value in wrote_exchange.items():
        if key in current and current[key] == value:
            exchange[key] = value
            if key in wrote_rooms:
                rooms[key] = wrote_rooms[key]
    return replace(link, rooms_snapshot=rooms, exchange_snapshot=exchange, written=None)


def adopted(link: Link) -> Link:
    """A create whose answer was lost, found by its stamp: based on what the create wrote."""
    assert link.written is not None
    return replace(
        link, rooms_snapshot=link.written["rooms"], exchange_snapshot=link.written["exchange"], written=None
    )
