"""The Exchange 2010 connector: EWS with time zone definitions and streaming notifications."""

from __future__ import annotations

from roomsync_ews_common import EwsConnector


class Exchange2010Connector(EwsConnector):
    name = "exchange2010"
    # The oldest dialect with streaming notifications; SP2 and SP3 accept it as well.
    request_server_version = "Exchange2010_SP1"
    notifications = "streaming"
    serves = "Exchange 2010 SP1, SP2 and SP3"
    capability_notes = (
        "items carry StartTimeZone/EndTimeZone definitions; GetServerTimeZones is available",
        "streaming notifications (a connection lives at most 30 minutes), with SyncFolderItems as fallback",
        "the default throttling policy allows 10 concurrent EWS connections per account (EWSMaxConcurrency)",
        "impersonation through the RBAC role ApplicationImpersonation, scoped by a management scope",
    )
