"""GetRoomLists and GetRooms as Exchange answers them, through exchangelib in every EWS dialect
that has them, and Exchange 2007's refusal of both (it does not know them).

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getroomlists-operation
(Exchange 2010 and later; ``RoomLists`` of ``Address`` elements)
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getrooms-operation
(Exchange 2010 and later; ``Rooms`` of ``Room`` elements, each with an ``Id``)
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-get-room-lists-by-using-ews-in-exchange
The 2007 SP1 Services.wsdl in ``schemas/exchange2007_sp1`` declares neither operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from exchangelib.errors import ErrorNameResolutionNoResults
from lxml import etree

from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, Org
from sim_support import SEED as BASE_SEED

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
API = {"exchange2007": "Exchange2007_SP1", "exchange2010": "Exchange2010_SP2", "exchange2013": "Exchange2016"}

SEED = {
    **BASE_SEED,
    "rooms": [
        {"smtp": "room.1@example.org", "name": "Room 1", "booking": {"allow_conflicts": True}},
        {"smtp": "room.2@example.org", "name": "Room 2", "place": {"capacity": 12}},
        {"smtp": "room.3@example.org", "name": "Room 3"},
    ],
    "distribution_lists": [{"smtp": "team@example.org", "name": "Team", "members": ["room.1@example.org"]}],
    "room_lists": [
        {
            "smtp": "building.a@example.org",
            "name": "Building A",
            "rooms": ["room.1@example.org", "room.2@example.org"],
        },
        {"smtp": "building.b@example.org", "name": "Building B", "rooms": ["room.3@example.org"]},
        {"smtp": "annex@example.org", "name": "Annex", "rooms": []},
    ],
}


@pytest.fixture(scope="module", params=DIALECTS)
def rooms(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, SEED, validate=True) as running:
        org = Org(running, request.param)
        try:
            yield org
        finally:
            org.close()
        assert not running.simulator.violations, f"schema violations: {running.simulator.violations}"


def _raw(org: Org, body: str, version: str | None = None) -> requests.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{T}" xmlns:m="{M}"><s:Header>'
        f'<t:RequestServerVersion Version="{version or API[org.dialect]}"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    operation = etree.QName(etree.fromstring(body.replace("m:", "").replace("t:", ""))).localname
    return requests.post(
        org.running.ews_url,
        data=envelope.encode(),
        auth=("alice@example.org", "alice-pw"),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{M}/{operation}"'},
        timeout=10,
    )


GET_ROOMS = "<m:GetRooms><m:RoomList><t:EmailAddress>{}</t:EmailAddress></m:RoomList></m:GetRooms>"


def _needs_2010(org: Org) -> None:
    if org.dialect == "exchange2007":
        pytest.skip(
            "GetRoomLists and GetRooms arrived with Exchange 2010 "
            "(refusal: test_exchange_2007_does_not_know_the_operations)"
        )


def test_room_lists_are_listed_as_public_dls(rooms: Org) -> None:
    _needs_2010(rooms)
    found = list(rooms.account().protocol.get_roomlists())
    assert [(r.email_address, r.name, r.mailbox_type) for r in found] == [
        ("building.a@example.org", "Building A", "PublicDL"),
        ("building.b@example.org", "Building B", "PublicDL"),
        ("annex@example.org", "Annex", "PublicDL"),
    ]
    # distribution lists that are not room lists are not among them
    assert "team@example.org" not in {r.email_address for r in found}


def test_the_rooms_of_a_list(rooms: Org) -> None:
    _needs_2010(rooms)
    protocol = rooms.account().protocol
    found = list(protocol.get_rooms("building.a@example.org"))
    assert [(r.email_address, r.name, r.mailbox_type) for r in found] == [
        ("room.1@example.org", "Room 1", "Mailbox"),
        ("room.2@example.org", "Room 2", "Mailbox"),
    ]
    assert [r.email_address for r in protocol.get_rooms("BUILDING.B@example.org")] == ["room.3@example.org"]
    assert list(protocol.get_rooms("annex@example.org")) == []


def test_a_room_shows_its_address_only_not_its_booking_policy_or_place(rooms: Org) -> None:
    _needs_2010(rooms)
    response = _raw(rooms, GET_ROOMS.format("building.a@example.org"))
    assert response.status_code == 200, response.text
    room = etree.fromstring(response.content).find(f".//{{{M}}}Rooms/{{{T}}}Room")
    assert [etree.QName(c).localname for c in room] == ["Id"]
    assert [etree.QName(c).localname for c in room[0]] == [
        "Name",
        "EmailAddress",
        "RoutingType",
        "MailboxType",
    ]


@pytest.mark.parametrize("address", ["nowhere@example.org", "team@example.org", "room.1@example.org"])
def test_get_rooms_of_what_is_not_a_room_list_resolves_to_nothing(rooms: Org, address: str) -> None:
    _needs_2010(rooms)
    with pytest.raises(ErrorNameResolutionNoResults):
        list(rooms.account().protocol.get_rooms(address))
    response = _raw(rooms, GET_ROOMS.format(address))
    assert response.status_code == 200, response.text
    answer = etree.fromstring(response.content).find(f".//{{{M}}}GetRoomsResponse")
    assert answer.get("ResponseClass") == "Error"
    assert answer.findtext(f"{{{M}}}ResponseCode") == "ErrorNameResolutionNoResults"
    assert answer.find(f"{{{M}}}Rooms") is None


@pytest.mark.parametrize("body", ["<m:GetRoomLists/>", GET_ROOMS.format("building.a@example.org")])
def test_exchange_2007_does_not_know_the_operations(rooms: Org, body: str) -> None:
    """An ASP.NET web service (2007) refuses an operation its WSDL lacks with a SOAP fault
    naming the SOAPAction; WCF (2010 and later) would answer ActionNotSupported."""
    if rooms.dialect != "exchange2007":
        pytest.skip("Exchange 2010 and later know GetRoomLists and GetRooms")
    response = _raw(rooms, body, "Exchange2007_SP1")
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault.findtext("faultcode").endswith(":Client")
    assert fault.findtext("faultstring").startswith(
        "Server did not recognize the value of HTTP Header SOAPAction"
    )
    # exchangelib knows the operations are 2010's and does not send them to a 2007 server
    with pytest.raises(NotImplementedError):
        rooms.account().protocol.get_roomlists()
