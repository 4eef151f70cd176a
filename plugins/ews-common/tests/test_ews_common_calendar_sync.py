"""SyncFolderItems with its fixed parts built once sends exchangelib's request and reads its answer."""

from __future__ import annotations

import pytest
from exchangelib import DELEGATE, IMPERSONATION, Account, Configuration, Credentials, EWSTimeZone
from exchangelib.items import ALL_PROPERTIES, ID_ONLY
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems
from exchangelib.transport import BASIC

from roomsync_ews_common.account import _address_folders_by_name, pinned_version
from roomsync_ews_common.calendar_sync import CalendarChanges

URL = "https://mail.example.org/EWS/Exchange.asmx"


def account(mailbox: str, access_type: str = IMPERSONATION, zone: str = "Europe/Berlin") -> Account:
    config = Configuration(
        credentials=Credentials("svc@example.org", "pw"),
        service_endpoint=URL,
        auth_type=BASIC,
        version=pinned_version("Exchange2013"),
    )
    found = Account(
        primary_smtp_address=mailbox,
        config=config,
        autodiscover=False,
        access_type=access_type,
        default_timezone=EWSTimeZone(zone),
        locale="en_US",
    )
    _address_folders_by_name(found)
    return found


def request(service: SyncFolderItems, state: str | None, api_version: str) -> bytes:
    payload = service.get_payload(
        folder=service.account.calendar,
        shape=ID_ONLY,
        additional_fields=set(),
        sync_state=state,
        ignore=None,
        max_changes_returned=512,
        sync_scope=None,
    )
    return bytes(service.wrap(content=payload, api_version=api_version))


def test_every_request_is_the_one_exchangelib_writes() -> None:
    accounts = [
        account("ada@example.org"),
        account("bob@example.org", zone="America/New_York"),
        account("cy@example.org", access_type=DELEGATE),
    ]
    for _ in range(2):  # the second time from what was built the first
        for each in accounts:
            for state in (None, "H4sIAAAA-state"):
                for api_version in ("Exchange2013", "Exchange2010_SP1"):
                    ours = request(CalendarChanges(account=each), state, api_version)
                    assert ours == request(SyncFolderItems(account=each), state, api_version)
                    assert each.primary_smtp_address.encode() in ours


def test_only_ids_are_asked_for() -> None:
    service = CalendarChanges(account=account("ada@example.org"))
    with pytest.raises(ValueError, match="IdOnly"):
        service.call(
            folder=service.account.calendar,
            shape=ALL_PROPERTIES,
            additional_fields=set(),
            sync_state=None,
            ignore=None,
            max_changes_returned=512,
            sync_scope=None,
        )


ANSWER = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<s:Body><m:SyncFolderItemsResponse><m:ResponseMessages>
<m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:SyncState>next-state</m:SyncState><m:IncludesLastItemInRange>false</m:IncludesLastItemInRange>
<m:Changes>
<t:Create><t:CalendarItem><t:ItemId Id="new" ChangeKey="k1"/></t:CalendarItem></t:Create>
<t:Update><t:CalendarItem><t:ItemId Id="changed" ChangeKey="k2"/></t:CalendarItem></t:Update>
<t:Create><t:Message><t:ItemId Id="mail" ChangeKey="k3"/></t:Message></t:Create>
<t:Delete><t:ItemId Id="gone" ChangeKey="k4"/></t:Delete>
<t:ReadFlagChange><t:ItemId Id="read" ChangeKey="k5"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>
</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse></s:Body>
</s:Envelope>"""


def test_changes_are_read_as_ids_of_calendar_items() -> None:
    service = CalendarChanges(account=account("ada@example.org"))
    changes = list(service.parse(ANSWER))

    assert changes[:3] == [
        (SyncFolderItems.CREATE, ItemId(id="new", changekey="k1")),
        (SyncFolderItems.UPDATE, ItemId(id="changed", changekey="k2")),
        (SyncFolderItems.CREATE, None),  # not a calendar item
    ]
    assert changes[3] == (SyncFolderItems.DELETE, ItemId(id="gone", changekey="k4"))
    assert changes[4][0] == SyncFolderItems.READ_FLAG_CHANGE
    assert (service.sync_state, service.includes_last_item_in_range) == ("next-state", False)
