"""The room directory over EWS: GetRoomLists, then GetRooms for each list (Exchange 2010 and later).

Both operations act in no mailbox, so they go through the pool's protocol without impersonation:
any account that may log on to EWS may read them. EWS shows a room's address and display name
only (no capacity, building or floor: those are Graph's places) and knows no room outside a room
list, so a room mailbox that is in no list is not seen. A list whose GetRooms fails carries the
error and does not fail the others.
"""

from __future__ import annotations

from typing import Any

from roomsync.connector.directory import DirectoryRoom, RoomList
from roomsync.errors import ConnectorError, Fault


def _checked(answer: Any) -> Any:
    if isinstance(answer, Exception):  # exchangelib hands an error of one message back as a value
        raise answer
    return answer


def room_lists(protocol: Any) -> list[tuple[str, str]]:
    """(address, display name) of every room list, as GetRoomLists answers them."""
    found = (_checked(item) for item in protocol.get_roomlists())
    return [(str(item.email_address).strip().lower(), str(item.name or "")) for item in found]


def rooms_of(protocol: Any, address: str, name: str) -> RoomList:
    """One list with its rooms (GetRooms), or with the error that kept them from being read."""
    try:
        rooms = [_checked(room) for room in protocol.get_rooms(address)]
    except Exception as exc:  # one list's failure must not fail the others
        return RoomList(mailbox=address, name=name, error=f"GetRooms failed: {type(exc).__name__}: {exc}")
    return RoomList(
        mailbox=address,
        name=name,
        rooms=tuple(
            DirectoryRoom(mailbox=room.email_address, name=room.name or room.email_address)
            for room in rooms
            if room.email_address
        ),
    )


def read_directory(protocol: Any, only: str | None, where: str) -> list[RoomList]:
    """Every room list with its rooms; ``only`` (an address): that one, which must be a list.
    ``where`` starts the error naming the environment."""
    lists = room_lists(protocol)
    if only is not None:
        wanted = [(address, name) for address, name in lists if address == only]
        if not wanted:
            known = ", ".join(address for address, _ in lists) or "none"
            raise ConnectorError(
                f"{where}: the server has no room list {only} (GetRoomLists lists: {known})",
                fault=Fault.CONFIGURATION,
            )
        lists = wanted
    return [rooms_of(protocol, address, name) for address, name in lists]
