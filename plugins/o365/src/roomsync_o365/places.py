"""The room directory over Microsoft Graph's places (application permission ``Place.Read.All``).

``GET /places/microsoft.graph.roomList`` lists the room lists, ``/places/{list}/microsoft.graph.
roomList/rooms`` the rooms of each, and ``/places/microsoft.graph.room`` every room, of which
those in no list form one more list; every collection is followed through ``@odata.nextLink``.
A room shows what Exchange Online records of it (``Set-Place``): capacity, building, floor. Each
tenant of the environment is read with its own app registration; a tenant or a list that fails
carries the error and does not fail the others, and only when nothing could be read is the
error raised.
"""

from __future__ import annotations

from typing import Any

from roomsync.connector.directory import DirectoryRoom, RoomList
from roomsync.errors import AccessDenied, ConnectorError, Fault
from roomsync_o365.graph_client import GraphClient, GraphError, path
from roomsync_o365.tokens import TenantTokens

PERMISSION = (
    "the Microsoft Graph application permission Place.Read.All with admin consent (Entra admin "
    "center: App registrations, the app, API permissions, Add a permission, Microsoft Graph, "
    "Application permissions, Place.Read.All, then Grant admin consent)"
)
ROOM_LISTS = path("places", "microsoft.graph.roomList")
ROOMS = path("places", "microsoft.graph.room")


def room(item: dict[str, Any]) -> DirectoryRoom | None:
    """A place as a room; ``None`` for one without an address (nothing to book)."""
    address = str(item.get("emailAddress") or "").strip()
    if not address:
        return None
    capacity = item.get("capacity")
    floor = item.get("floorLabel") or item.get("floorNumber")
    return DirectoryRoom(
        mailbox=address,
        name=str(item.get("displayName") or address),
        capacity=capacity if isinstance(capacity, int) and capacity > 0 else None,
        building=str(item["building"]) if item.get("building") else None,
        floor=str(floor) if floor is not None and floor != "" else None,
        booking_type=str(item["bookingType"]) if item.get("bookingType") else None,
    )


def _rooms(items: Any) -> tuple[DirectoryRoom, ...]:
    return tuple(found for item in items if (found := room(item)) is not None)


class TenantPlaces:
    """The room lists and rooms of one tenant, read with its app's token."""

    def __init__(self, client: GraphClient, tokens: TenantTokens) -> None:
        self.client = client
        self.tokens = tokens
        self.known: list[str] = []
        """The addresses of the tenant's room lists, once read."""

    def _pages(self, relative: str) -> list[dict[str, Any]]:
        try:
            return list(self.client.pages(self.tokens, relative))
        except GraphError as exc:
            if exc.status == 403:
                raise AccessDenied(
                    f"Graph denied {self.tokens.who} the room directory ({exc.response.describe()}); "
                    f"it needs {PERMISSION}"
                ) from None
            raise

    def room_lists(self) -> list[tuple[str, str]]:
        """(address, display name) of every room list."""
        lists = []
        for item in self._pages(ROOM_LISTS):
            address = str(item.get("emailAddress") or "").strip().lower()
            if address:
                lists.append((address, str(item.get("displayName") or address)))
        return lists

    def list_rooms(self, address: str, name: str) -> RoomList:
        relative = path("places", address, "microsoft.graph.roomList", "rooms")
        try:
            return RoomList(mailbox=address, name=name, rooms=_rooms(self._pages(relative)))
        except (GraphError, ConnectorError) as exc:  # one list's failure must not fail the others
            return RoomList(mailbox=address, name=name, error=str(exc))

    def directory(self, only: str | None) -> list[RoomList]:
        lists = self.room_lists()
        self.known = [address for address, _ in lists]
        if only is not None:
            lists = [(address, name) for address, name in lists if address == only]
            return [self.list_rooms(address, name) for address, name in lists]
        read = [self.list_rooms(address, name) for address, name in lists]
        listed = {r.mailbox for room_list in read for r in room_list.rooms}
        alone = tuple(r for r in _rooms(self._pages(ROOMS)) if r.mailbox not in listed)
        if alone:
            read.append(RoomList(mailbox=None, name="(in no room list)", rooms=alone))
        return read


def read_directory(client: GraphClient, tenants: list[TenantTokens], only: str | None) -> list[RoomList]:
    """Every tenant's room lists with their rooms; ``only`` (an address): that list, which one of
    the tenants must have. Raises the first tenant's error when no tenant could be read."""
    found: list[RoomList] = []
    errors: list[tuple[TenantTokens, Exception]] = []
    known: list[str] = []
    for tokens in tenants:
        places = TenantPlaces(client, tokens)
        try:
            found.extend(places.directory(only))
            known.extend(places.known)
        except (GraphError, ConnectorError) as exc:
            errors.append((tokens, exc))
    if errors and len(errors) == len(tenants):
        raise errors[0][1]
    found.extend(RoomList(mailbox=None, name=f"the tenant of {t.who}", error=str(e)) for t, e in errors)
    if only is not None and not any(r.mailbox == only for r in found):
        raise ConnectorError(
            f"the directory has no room list {only} (room lists of its tenants: "
            f"{', '.join(known) or 'none'})",
            fault=Fault.CONFIGURATION,
        )
    return found
