"""Microsoft Graph's places and groups as a room sync reads them, over plain HTTP with an app's
token: rooms, room lists and their rooms; distribution groups, their members and transitive
members with paging; the application permissions each needs.

https://learn.microsoft.com/en-us/graph/api/place-list (``/places/microsoft.graph.room``,
``/places/microsoft.graph.roomlist``, ``/places/{room-list-emailaddress}/microsoft.graph.roomlist/rooms``;
application permission Place.Read.All)
https://learn.microsoft.com/en-us/graph/api/resources/room (id, displayName, emailAddress,
capacity, building, floorNumber, floorLabel, isWheelChairAccessible, bookingType)
https://learn.microsoft.com/en-us/graph/api/group-list-members and group-list-transitivemembers
(GroupMember.Read.All; directory objects with @odata.type; limited information for member types
the app may not read)
https://learn.microsoft.com/en-us/graph/paging (``@odata.nextLink`` with ``$skiptoken`` for
directory objects)
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from graph_support import MAIN, SEED, Graph
from roomsync_sim.testing import RunningSimulator, running_simulator

PLACES = "00000000-0000-0000-0000-0000000000c1"
MEMBERS = "00000000-0000-0000-0000-0000000000c2"
DIRECTORY = "00000000-0000-0000-0000-0000000000c3"


def _seed() -> dict[str, Any]:
    seed = copy.deepcopy(SEED)
    seed["rooms"] = [
        {
            "smtp": "room.1@example.org",
            "name": "Room 1",
            "place": {
                "capacity": 8,
                "building": "A",
                "floor_number": 2,
                "floor_label": "Second floor",
                "is_wheelchair_accessible": True,
            },
            "booking": {"allow_conflicts": True, "booking_window_days": 30},
        },
        {"smtp": "room.2@example.org", "name": "Room 2", "place": {"booking_type": "reserved"}},
        {"smtp": "room.3@example.org", "name": "Room 3"},
    ]
    seed["distribution_lists"] = [
        *seed["distribution_lists"],
        {
            "smtp": "team@example.org",
            "name": "Team",
            "members": ["alice@example.org", "managers@example.org", "room.1@example.org"],
        },
        # managers names team back: a loop
        {
            "smtp": "managers@example.org",
            "name": "Managers",
            "members": ["carol@example.org", "team@example.org"],
        },
        {"smtp": "empty@example.org", "name": "Empty", "members": []},
    ]
    seed["room_lists"] = [
        {
            "smtp": "building.a@example.org",
            "name": "Building A",
            "rooms": ["room.1@example.org", "room.2@example.org"],
        },
        {"smtp": "building.b@example.org", "name": "Building B", "rooms": ["room.3@example.org"]},
    ]
    seed["apps"] = [
        *seed["apps"],
        {"client_id": PLACES, "name": "Places", "secrets": ["p"], "roles": ["Place.Read.All"]},
        {"client_id": MEMBERS, "name": "Members", "secrets": ["m"], "roles": ["GroupMember.Read.All"]},
        {
            "client_id": DIRECTORY,
            "name": "Directory",
            "secrets": ["d"],
            "roles": ["GroupMember.Read.All", "User.Read.All", "Calendars.Read"],
        },
    ]
    return seed


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator("o365", _seed()) as running:
        yield running


@pytest.fixture(scope="module")
def places(sim: RunningSimulator) -> Graph:
    return Graph(sim, client=PLACES)


@pytest.fixture(scope="module")
def directory(sim: RunningSimulator) -> Graph:
    return Graph(sim, client=DIRECTORY)


def _ok(graph: Graph, path: str, **kw: Any) -> dict[str, Any]:
    response = graph.get(path, **kw)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _error(graph: Graph, path: str, status: int) -> dict[str, Any]:
    response = graph.get(path)
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def _all(graph: Graph, path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every value of a list, following @odata.nextLink; and the links followed."""
    values: list[dict[str, Any]] = []
    links: list[str] = []
    body = _ok(graph, path)
    values += body["value"]
    while "@odata.nextLink" in body:
        links.append(body["@odata.nextLink"])
        assert len(links) < 20, "paging does not end"
        body = _ok(graph, body["@odata.nextLink"])
        values += body["value"]
    return values, links


# --- places ----------------------------------------------------------------------------------------


def test_rooms_show_what_the_place_records(sim: RunningSimulator, places: Graph) -> None:
    body = _ok(places, "/places/microsoft.graph.room")
    assert body["@odata.context"].endswith("/$metadata#places/microsoft.graph.room")
    one, two, three = body["value"]
    assert one == {
        "id": one["id"],
        "emailAddress": "room.1@example.org",
        "displayName": "Room 1",
        "capacity": 8,
        "building": "A",
        "floorNumber": 2,
        "floorLabel": "Second floor",
        "isWheelChairAccessible": True,
        "bookingType": "standard",
    }
    assert two["bookingType"] == "reserved" and two["capacity"] is None
    assert (three["emailAddress"], three["isWheelChairAccessible"], three["building"]) == (
        "room.3@example.org",
        False,
        None,
    )
    # the booking policy (Set-CalendarProcessing) is not part of a place
    assert not {k for k in one if "conflict" in k.lower() or "window" in k.lower()}
    # a place's id is the id of the room's user object
    user = Graph(sim, client=MAIN).get(f"/users/{one['id']}/events")
    assert user.status_code == 200, user.text


def test_room_lists_and_their_rooms(places: Graph) -> None:
    body = _ok(places, "/places/microsoft.graph.roomList")
    assert [(r["emailAddress"], r["displayName"]) for r in body["value"]] == [
        ("building.a@example.org", "Building A"),
        ("building.b@example.org", "Building B"),
    ]
    assert "team@example.org" not in {r["emailAddress"] for r in body["value"]}
    rooms = _ok(places, "/places/building.a@example.org/microsoft.graph.roomList/rooms")
    assert rooms["@odata.context"].endswith(
        "/$metadata#places('building.a%40example.org')/microsoft.graph.roomList/rooms"
    )
    assert [r["emailAddress"] for r in rooms["value"]] == ["room.1@example.org", "room.2@example.org"]
    # by the list's id too, and the segments in any case (as the docs write them: roomlist)
    list_id = body["value"][1]["id"]
    by_id = _ok(places, f"/places/{list_id}/microsoft.graph.roomlist/rooms")
    assert [r["emailAddress"] for r in by_id["value"]] == ["room.3@example.org"]


def test_places_page_with_top_and_skip(places: Graph) -> None:
    first = _ok(places, "/places/microsoft.graph.room?$top=2")
    assert [r["emailAddress"] for r in first["value"]] == ["room.1@example.org", "room.2@example.org"]
    rest = _ok(places, first["@odata.nextLink"])
    assert [r["emailAddress"] for r in rest["value"]] == ["room.3@example.org"]
    assert "@odata.nextLink" not in rest
    selected = _ok(places, "/places/microsoft.graph.room?$select=displayName,capacity")
    assert set(selected["value"][0]) == {"id", "displayName", "capacity"}


@pytest.mark.parametrize(
    "path",
    [
        "/places/nowhere@example.org/microsoft.graph.roomList/rooms",
        "/places/team@example.org/microsoft.graph.roomList/rooms",
    ],
)
def test_the_rooms_of_what_is_not_a_room_list(places: Graph, path: str) -> None:
    assert _error(places, path, 404)["code"] == "ErrorItemNotFound"


@pytest.mark.parametrize(
    "path",
    [
        "/places/microsoft.graph.room",
        "/places/microsoft.graph.roomList",
        "/places/building.a@example.org/microsoft.graph.roomList/rooms",
    ],
)
def test_places_need_place_read_all(sim: RunningSimulator, path: str) -> None:
    for client in (MAIN, MEMBERS, DIRECTORY):
        error = _error(Graph(sim, client=client), path, 403)
        assert error["code"] == "ErrorAccessDenied"


# --- groups ----------------------------------------------------------------------------------------


def _group_id(graph: Graph, mail: str) -> str:
    [group] = _ok(graph, f"/groups?$filter=mail eq '{mail}'")["value"]
    return str(group["id"])


def test_groups_by_mail(directory: Graph) -> None:
    body = _ok(directory, "/groups?$filter=mail eq 'Team@example.org'")
    assert body["@odata.context"].endswith("/$metadata#groups")
    [team] = body["value"]
    assert team == {
        "id": team["id"],
        "displayName": "Team",
        "mail": "team@example.org",
        "mailNickname": "team",
        "mailEnabled": True,
        "securityEnabled": False,
        "groupTypes": [],
    }
    assert _ok(directory, "/groups?$filter=mail eq 'nobody@example.org'")["value"] == []
    # room lists are distribution groups too
    every = {g["mail"] for g in _all(directory, "/groups?$top=2")[0]}
    assert {"team@example.org", "building.a@example.org", "sync-scope@example.org"} <= every


def test_members_one_level_with_types(directory: Graph) -> None:
    team = _group_id(directory, "team@example.org")
    body = _ok(directory, f"/groups/{team}/members")
    assert body["@odata.context"].endswith("/$metadata#directoryObjects")
    assert [(m["@odata.type"], m.get("mail")) for m in body["value"]] == [
        ("#microsoft.graph.user", "alice@example.org"),
        ("#microsoft.graph.group", "managers@example.org"),
        ("#microsoft.graph.user", "room.1@example.org"),
    ]
    alice = body["value"][0]
    assert (alice["displayName"], alice["userPrincipalName"]) == ("Alice Adams", "alice@example.org")
    assert _ok(directory, f"/groups/{_group_id(directory, 'empty@example.org')}/members")["value"] == []


def test_transitive_members_follow_a_loop_once(directory: Graph) -> None:
    team = _group_id(directory, "team@example.org")
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(_ok(directory, f"/groups/{team}/transitiveMembers"))
    )
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "transitiveMembers of a loop did not answer"
    mails = [m["mail"] for m in result[0]["value"]]
    assert mails == ["alice@example.org", "managers@example.org", "carol@example.org", "room.1@example.org"]
    # managers' transitive members reach team and, through it, everything but managers itself
    managers = _group_id(directory, "managers@example.org")
    mails = [m["mail"] for m in _ok(directory, f"/groups/{managers}/transitiveMembers")["value"]]
    assert mails == ["carol@example.org", "team@example.org", "alice@example.org", "room.1@example.org"]


def test_transitive_members_page_by_skiptoken(directory: Graph) -> None:
    team = _group_id(directory, "team@example.org")
    whole = _ok(directory, f"/groups/{team}/transitiveMembers")["value"]
    paged, links = _all(directory, f"/groups/{team}/transitiveMembers?$top=1&$select=mail")
    assert [m["mail"] for m in paged] == [m["mail"] for m in whole]
    assert len(links) == 3
    assert all("%24skiptoken=" in link or "$skiptoken=" in link for link in links)
    assert all("skip=" not in link.replace("skiptoken=", "") for link in links)
    assert set(paged[0]) == {"@odata.type", "id", "mail"}
    assert (
        _error(directory, f"/groups/{team}/transitiveMembers?$top=1000", 400)["code"] == "Request_BadRequest"
    )
    assert _error(directory, f"/groups/{team}/members?$skip=1", 400)["code"] == "Request_BadRequest"
    assert (
        _error(directory, f"/groups/{team}/members?$skiptoken=bogus", 400)["code"]
        == "Directory_ExpiredPageToken"
    )


def test_unknown_groups(directory: Graph) -> None:
    missing = "11111111-2222-3333-4444-555555555555"
    error = _error(directory, f"/groups/{missing}/members", 404)
    assert error["code"] == "Request_ResourceNotFound" and missing in error["message"]
    assert _error(directory, "/groups/team@example.org/members", 400)["code"] == "Request_BadRequest"


def test_members_need_a_group_permission(sim: RunningSimulator, directory: Graph) -> None:
    team = _group_id(directory, "team@example.org")
    for client in (MAIN, PLACES):
        graph = Graph(sim, client=client)
        for path in ("/groups", f"/groups/{team}/members", f"/groups/{team}/transitiveMembers"):
            error = _error(graph, path, 403)
            assert (error["code"], error["message"]) == (
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )


def test_without_a_user_permission_user_members_come_with_limited_information(sim: RunningSimulator) -> None:
    graph = Graph(sim, client=MEMBERS)
    team = _group_id(graph, "team@example.org")
    alice, managers, room = _ok(graph, f"/groups/{team}/members")["value"]
    assert alice == {
        "@odata.type": "#microsoft.graph.user",
        "id": alice["id"],
        "displayName": None,
        "mail": None,
        "userPrincipalName": None,
    }
    assert room["mail"] is None
    assert (managers["@odata.type"], managers["mail"]) == ("#microsoft.graph.group", "managers@example.org")


def test_requests_are_counted_by_kind(sim: RunningSimulator, places: Graph) -> None:
    before = sim.simulator.counts["places.rooms"]
    _ok(places, "/places/microsoft.graph.room")
    assert sim.simulator.counts["places.rooms"] == before + 1
