"""Rooms, room lists and groups: the directory reads of Microsoft Graph v1.0 a room sync needs.

Places (application permission ``Place.Read.All`` or ``Place.ReadWrite.All``)::

    GET /places/microsoft.graph.room                                  every room
    GET /places/microsoft.graph.roomList                              every room list
    GET /places/{room list address or id}/microsoft.graph.roomList/rooms

A room shows ``id``, ``emailAddress``, ``displayName`` and what the seed's ``[rooms.place]``
records (Set-Place): ``capacity``, ``building``, ``floorNumber``, ``floorLabel`` (null when not
set), ``isWheelChairAccessible`` (false) and ``bookingType`` (``standard``). A room list shows
``id``, ``emailAddress``, ``displayName``. Other properties of Graph's ``place`` (address,
phone, tags, devices, ...) are left out, not given as null. The booking policy
(Set-CalendarProcessing) is not shown: Graph has no API for it. Lists page as the simulator's
other lists do (``$top``, ``$skip`` in ``@odata.nextLink``), 100 to a page by default.

Groups (``GroupMember.Read.All``, ``Group.Read.All``, ``Directory.Read.All`` or their ReadWrite
forms; without: 403 ``Authorization_RequestDenied``)::

    GET /groups                            every distribution and room list ($filter, e.g.
                                           mail eq 'team@example.org')
    GET /groups/{id}/members               direct members
    GET /groups/{id}/transitiveMembers     members of nested groups too, each once

Members are directory objects with ``@odata.type`` ``#microsoft.graph.user`` (people and rooms)
or ``#microsoft.graph.group``. As Graph documents for inaccessible member objects, a user
member is returned with its ``id`` and type only, other properties null, unless the app also
reads users (``User.Read.All``, ``User.ReadBasic.All``, ``User.ReadWrite.All`` or
``Directory.Read.All``). Directory lists page by ``$skiptoken`` in ``@odata.nextLink``, 100 to a
page by default, ``$top`` 1-999; ``$skip`` is refused (directory objects do not support it). A
loop of nested groups is followed once: a group is never its own transitive member.

Where Microsoft's pages are silent the simulator chooses: places without a Place permission are
403 ``ErrorAccessDenied`` (the code of Graph's other Exchange-backed APIs); a place's ``id`` is
the directory object id of its mailbox (the user's or group's ``id``); an unknown room list (or a
distribution list that is not one) is 404 ``ErrorItemNotFound``; members come in seed order,
transitive members depth first; a page token the simulator did not issue is 400
``Directory_ExpiredPageToken``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from roomsync_sim.graph import odata
from roomsync_sim.graph.errors import GraphError, not_found
from roomsync_sim.graph.events import collection
from roomsync_sim.graph.router import Router
from roomsync_sim.graph.service import Call, Reply
from roomsync_sim.graph.tenants import Tenant
from roomsync_sim.seed import Group, PlaceInfo, User

PLACE_ROLES = frozenset({"Place.Read.All", "Place.ReadWrite.All"})
GROUP_ROLES = frozenset(
    {
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
USER_ROLES = frozenset(
    {
        "User.Read.All",
        "User.ReadBasic.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
PLACES_PAGE = 100
DIRECTORY_PAGE = 100
DIRECTORY_MAX_PAGE = 999
_TOKEN_PREFIX = "roomsync-sim:"


# --- permissions -----------------------------------------------------------------------------------


def _require(call: Call, roles: frozenset[str], code: str, message: str) -> None:
    if not roles & set(call.app.roles):
        raise GraphError(403, code, message)


def _places_allowed(call: Call) -> None:
    _require(call, PLACE_ROLES, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _groups_allowed(call: Call) -> None:
    _require(
        call, GROUP_ROLES, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


# --- JSON ------------------------------------------------------------------------------------------


def room_json(tenant: Tenant, room: User) -> dict[str, Any]:
    place = room.place or PlaceInfo()
    return {
        "id": tenant.user_id(room.smtp),
        "emailAddress": room.smtp,
        "displayName": room.name,
        "capacity": place.capacity,
        "building": place.building,
        "floorNumber": place.floor_number,
        "floorLabel": place.floor_label,
        "isWheelChairAccessible": place.is_wheelchair_accessible,
        "bookingType": place.booking_type,
    }


def room_list_json(tenant: Tenant, group: Group) -> dict[str, Any]:
    return {"id": tenant.user_id(group.smtp), "emailAddress": group.smtp, "displayName": group.name}


def group_json(tenant: Tenant, group: Group) -> dict[str, Any]:
    """A distribution group as Entra ID shows it: mail-enabled, not security-enabled."""
    return {
        "id": tenant.user_id(group.smtp),
        "displayName": group.name,
        "mail": group.smtp,
        "mailNickname": group.smtp.split("@")[0],
        "mailEnabled": True,
        "securityEnabled": False,
        "groupTypes": [],
    }


def user_json(tenant: Tenant, user: User, readable: bool) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": tenant.user_id(user.smtp),
        "displayName": user.name if readable else None,
        "mail": user.smtp if readable else None,
        "userPrincipalName": user.smtp if readable else None,
    }


# --- places ----------------------------------------------------------------------------------------


def _rooms(tenant: Tenant) -> list[User]:
    return [u for u in tenant.seed.users if u.kind == "room"]


def _room_lists(tenant: Tenant) -> list[Group]:
    return [g for g in tenant.seed.groups if g.kind == "roomlist"]


def list_rooms(call: Call) -> Reply:
    _places_allowed(call)
    rows = [room_json(call.tenant, r) for r in _rooms(call.tenant)]
    return collection(call, rows, "places/microsoft.graph.room", PLACES_PAGE)


def list_room_lists(call: Call) -> Reply:
    _places_allowed(call)
    rows = [room_list_json(call.tenant, g) for g in _room_lists(call.tenant)]
    return collection(call, rows, "places/microsoft.graph.roomList", PLACES_PAGE)


def room_list_rooms(call: Call) -> Reply:
    _places_allowed(call)
    key = call.params["place"].strip().lower()
    tenant = call.tenant
    found = next((g for g in _room_lists(tenant) if key in (g.smtp, tenant.user_id(g.smtp))), None)
    if found is None:
        raise not_found()
    by_address = {r.smtp: r for r in _rooms(tenant)}
    rows = [room_json(tenant, by_address[s]) for s in found.members if s in by_address]
    context = f"places('{found.smtp.replace('@', '%40')}')/microsoft.graph.roomList/rooms"
    return collection(call, rows, context, PLACES_PAGE)


# --- groups ----------------------------------------------------------------------------------------


def _find_group(call: Call) -> Group:
    key = call.params["group"].strip()
    try:
        wanted = str(uuid.UUID(key))
    except ValueError:
        raise GraphError(400, "Request_BadRequest", f"Invalid object identifier '{key}'.") from None
    tenant = call.tenant
    found = next((g for g in tenant.seed.groups if tenant.user_id(g.smtp) == wanted), None)
    if found is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    return found


def _member_json(call: Call, smtp: str) -> dict[str, Any] | None:
    tenant = call.tenant
    group = next((g for g in tenant.seed.groups if g.smtp == smtp), None)
    if group is not None:
        return {"@odata.type": "#microsoft.graph.group", **group_json(tenant, group)}
    user = tenant.directory.user(smtp)
    if user is None:
        return None
    return user_json(tenant, user, readable=bool(USER_ROLES & set(call.app.roles)))


def _transitive(tenant: Tenant, group: Group) -> list[str]:
    """Every member of a group and of the groups nested in it, depth first, each once; the group
    itself is left out even when a loop leads back to it."""
    by_address = {g.smtp: g for g in tenant.seed.groups}
    seen = {group.smtp}
    found: list[str] = []

    def visit(current: Group) -> None:
        for member in current.members:
            if member in seen:
                continue
            seen.add(member)
            found.append(member)
            if member in by_address:
                visit(by_address[member])

    visit(group)
    return found


def list_groups(call: Call) -> Reply:
    _groups_allowed(call)
    rows = [group_json(call.tenant, g) for g in call.tenant.seed.groups]
    return _directory_page(call, rows, "groups")


def members(call: Call) -> Reply:
    _groups_allowed(call)
    group = _find_group(call)
    rows = [row for row in (_member_json(call, s) for s in group.members) if row is not None]
    return _directory_page(call, rows, "directoryObjects")


def transitive_members(call: Call) -> Reply:
    _groups_allowed(call)
    group = _find_group(call)
    rows = [
        row for row in (_member_json(call, s) for s in _transitive(call.tenant, group)) if row is not None
    ]
    return _directory_page(call, rows, "directoryObjects")


def _directory_page(call: Call, rows: list[dict[str, Any]], context: str) -> Reply:
    """``$filter``, ``$select`` and ``$top`` with ``$skiptoken`` paging, as Entra ID pages."""
    if call.query.get("skip") is not None:
        raise GraphError(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    flt = call.query.get("filter")
    if flt:
        node = odata.parse_filter(flt)
        rows = [r for r in rows if node(r)]
    size = call.query.integer("top", DIRECTORY_PAGE) or 0
    if not 1 <= size <= DIRECTORY_MAX_PAGE:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{size}'. Must be between 1 and {DIRECTORY_MAX_PAGE} inclusive.",
        )
    offset = _offset(call.query.get("skiptoken"))
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#{context}"}
    if offset + size < len(rows):
        params = {
            k: v
            for k, v in parse_qsl(call.raw_query, keep_blank_values=True)
            if k.lower().lstrip("$") != "skiptoken"
        }
        params["$skiptoken"] = _token(offset + size)
        body["@odata.nextLink"] = f"{call.base}{call.path}?{urlencode(params)}"
    body["value"] = [odata.select(r, call.query.select()) for r in rows[offset : offset + size]]
    return Reply(200, body)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith(_TOKEN_PREFIX) and text[len(_TOKEN_PREFIX) :].isdigit():
            return int(text[len(_TOKEN_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GraphError(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )


def register(router: Router) -> None:
    flags = {"mailbox": False, "locked": False}
    router.add("GET", r"/places/microsoft\.graph\.room", "places.rooms", list_rooms, **flags)
    router.add("GET", r"/places/microsoft\.graph\.roomList", "places.roomLists", list_room_lists, **flags)
    router.add(
        "GET",
        r"/places/(?P<place>[^/]+)/microsoft\.graph\.roomList/rooms",
        "places.roomList.rooms",
        room_list_rooms,
        **flags,
    )
    router.add("GET", r"/groups", "groups.list", list_groups, **flags)
    router.add("GET", r"/groups/(?P<group>[^/]+)/members", "groups.members", members, **flags)
    router.add(
        "GET",
        r"/groups/(?P<group>[^/]+)/transitiveMembers",
        "groups.transitiveMembers",
        transitive_members,
        **flags,
    )
