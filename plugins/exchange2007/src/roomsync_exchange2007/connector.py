"""The Exchange 2007 connector: the EWS dialect where version differences are real.

2007 SP1 lacks much that later servers have, so this plugin is its own: what it must do
differently is listed in :attr:`Exchange2007Connector.capability_notes`.
"""

from __future__ import annotations

from roomsync_ews_common import EwsConnector


class Exchange2007Connector(EwsConnector):
    name = "exchange2007"
    # The only dialect 2007 SP1 to SP3 speak; 2007 without a service pack is not supported.
    request_server_version = "Exchange2007_SP1"
    serves = "Exchange 2007 SP1, SP2 and SP3"
    capability_notes = (
        "item times carry MeetingTimeZone only (no StartTimeZone/EndTimeZone definitions); "
        "times without an offset are read as UTC unless an item carries one",
        "no GetServerTimeZones: free/busy is read with GetUserAvailability and an explicit time zone",
        "no streaming notifications: changes are polled with SyncFolderItems",
        "no GetRooms/GetRoomLists: room lists cannot be read from the server",
        "impersonation through the Active Directory rights ms-Exch-EPI-Impersonation "
        "and ms-Exch-EPI-May-Impersonate",
    )
