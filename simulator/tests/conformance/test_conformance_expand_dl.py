"""ExpandDL as Exchange answers it, read through exchangelib (and raw EWS for what exchangelib does
not show) in every EWS dialect: one level of a distribution group, nested groups unexpanded.

https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/expanddl-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/dlexpansion
(``TotalItemsInView``, ``IncludesLastItemInRange``; members as ``Mailbox`` elements)
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/mailboxtype
(``Mailbox`` for a mail-enabled user, ``PublicDL`` for a public distribution list)
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-expand-distribution-groups-by-using-ews
(ExpandDL expands one level; a nested group is expanded by calling ExpandDL on it)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from exchangelib.errors import (
    ErrorInvalidIdMalformed,
    ErrorInvalidItemForOperationExpandDL,
    ErrorNameResolutionNoResults,
)
from exchangelib.properties import DLMailbox, ItemId
from lxml import etree

from roomsync_sim.testing import running_simulator
from sim_support import DIALECTS, SEED, Org, create_item

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
API = {"exchange2007": "Exchange2007_SP1", "exchange2010": "Exchange2010_SP2", "exchange2013": "Exchange2016"}

LISTS_SEED: dict[str, Any] = {
    **SEED,
    "rooms": [
        {"smtp": "room.1@example.org", "name": "Room 1"},
        {"smtp": "room.2@example.org", "name": "Room 2"},
    ],
    "distribution_lists": [
        # team -> managers -> team: a loop, as Exchange lets distribution groups nest
        {
            "smtp": "team@example.org",
            "name": "Team",
            "members": ["alice@example.org", "managers@example.org", "room.1@example.org"],
        },
        {
            "smtp": "managers@example.org",
            "name": "Managers",
            "members": ["carol@example.org", "team@example.org"],
        },
        {"smtp": "echo@example.org", "name": "Echo", "members": ["echo@example.org", "bob@example.org"]},
        {"smtp": "empty@example.org", "name": "Empty", "members": []},
    ],
    "room_lists": [
        {
            "smtp": "building.a@example.org",
            "name": "Building A",
            "rooms": ["room.1@example.org", "room.2@example.org"],
        }
    ],
}


@pytest.fixture(scope="module", params=DIALECTS)
def lists(request: pytest.FixtureRequest) -> Iterator[Org]:
    with running_simulator(request.param, LISTS_SEED, validate=True) as running:
        org = Org(running, request.param)
        try:
            yield org
        finally:
            org.close()
        assert not running.simulator.violations, f"schema violations: {running.simulator.violations}"


def _members(org: Org, address: str) -> list[tuple[str, str, str]]:
    found = org.account().protocol.expand_dl(address)
    return [(m.email_address, m.name, m.mailbox_type) for m in found]


def _raw(org: Org, body: str) -> requests.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{T}" xmlns:m="{M}"><s:Header><t:RequestServerVersion Version="{API[org.dialect]}"/>'
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
    return requests.post(
        org.running.ews_url, data=envelope.encode(), auth=("alice@example.org", "alice-pw"), timeout=10
    )


def _expand_raw(org: Org, address: str) -> etree._Element:
    body = f"<m:ExpandDL><m:Mailbox><t:EmailAddress>{address}</t:EmailAddress></m:Mailbox></m:ExpandDL>"
    response = _raw(org, body)
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content).find(f".//{{{M}}}ExpandDLResponseMessage")


def test_one_level_with_a_nested_group_as_public_dl_not_expanded(lists: Org) -> None:
    assert _members(lists, "team@example.org") == [
        ("alice@example.org", "Alice Adams", "Mailbox"),
        ("managers@example.org", "Managers", "PublicDL"),
        ("room.1@example.org", "Room 1", "Mailbox"),
    ]
    # the nested group is expanded by asking for it in turn; it names its parent back (a loop)
    assert _members(lists, "managers@example.org") == [
        ("carol@example.org", "Carol Clark", "Mailbox"),
        ("team@example.org", "Team", "PublicDL"),
    ]


def test_the_expansion_carries_its_paging_attributes(lists: Org) -> None:
    message = _expand_raw(lists, "team@example.org")
    assert message.get("ResponseClass") == "Success"
    expansion = message.find(f"{{{M}}}DLExpansion")
    assert (expansion.get("TotalItemsInView"), expansion.get("IncludesLastItemInRange")) == ("3", "true")
    entries = expansion.findall(f"{{{T}}}Mailbox")
    assert [e.findtext(f"{{{T}}}RoutingType") for e in entries] == ["SMTP"] * 3


def test_a_group_that_holds_itself_is_listed_once_and_nothing_hangs(lists: Org) -> None:
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(_members(lists, "echo@example.org")), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "ExpandDL of a group holding itself did not answer"
    assert result == [[("echo@example.org", "Echo", "PublicDL"), ("bob@example.org", "Bob Brown", "Mailbox")]]


def test_an_empty_group_expands_to_nothing(lists: Org) -> None:
    assert _members(lists, "empty@example.org") == []
    expansion = _expand_raw(lists, "empty@example.org").find(f"{{{M}}}DLExpansion")
    assert (expansion.get("TotalItemsInView"), expansion.get("IncludesLastItemInRange")) == ("0", "true")


def test_a_room_list_expands_to_its_rooms(lists: Org) -> None:
    assert _members(lists, "building.a@example.org") == [
        ("room.1@example.org", "Room 1", "Mailbox"),
        ("room.2@example.org", "Room 2", "Mailbox"),
    ]


def test_the_address_is_matched_without_regard_to_case(lists: Org) -> None:
    assert [m[0] for m in _members(lists, "Team@Example.ORG")] == [
        m[0] for m in _members(lists, "team@example.org")
    ]


@pytest.mark.parametrize("address", ["nobody@example.org", "alice@example.org"])
def test_an_address_that_is_not_a_group_resolves_to_nothing(lists: Org, address: str) -> None:
    with pytest.raises(ErrorNameResolutionNoResults):
        lists.account().protocol.expand_dl(address)
    message = _expand_raw(lists, address)
    assert message.get("ResponseClass") == "Error"
    assert message.findtext(f"{{{M}}}ResponseCode") == "ErrorNameResolutionNoResults"
    assert message.find(f"{{{M}}}DLExpansion") is None


def test_a_private_list_is_named_by_item_id(lists: Org) -> None:
    account = lists.account()
    item = create_item(lists, account, "not a list", 9)
    protocol = account.protocol
    with pytest.raises(ErrorInvalidItemForOperationExpandDL):
        protocol.expand_dl(
            DLMailbox(item_id=ItemId(id=item.id, changekey=item.changekey), mailbox_type="PrivateDL")
        )
    # exchangelib hands this one back as a value instead of raising it
    [malformed] = protocol.expand_dl(DLMailbox(item_id=ItemId(id="not-an-id"), mailbox_type="PrivateDL"))
    assert isinstance(malformed, ErrorInvalidIdMalformed)
    item.delete()
