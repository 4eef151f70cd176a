"""The Exchange 2013 connector, also for 2016, 2019 and Subscription Edition.

Those releases speak the same EWS; pinning the 2013 dialect, which all of them accept, lets one
plugin serve an organisation in the middle of an upgrade.
"""

from __future__ import annotations

from roomsync_ews_common import EwsConnector


class Exchange2013Connector(EwsConnector):
    name = "exchange2013"
    request_server_version = "Exchange2013"
    notifications = "streaming"
    serves = "Exchange 2013, 2016, 2019 and Subscription Edition"
    capability_notes = (
        "items carry StartTimeZone/EndTimeZone definitions; GetServerTimeZones is available",
        "streaming notifications (a connection lives at most 30 minutes), with SyncFolderItems as fallback",
        "the default throttling policy allows 27 concurrent EWS connections per account (EWSMaxConcurrency)",
        "impersonation through the RBAC role ApplicationImpersonation, scoped by a management scope",
        "not for Exchange Online, where EWS is blocked since 2026-10-01: use the o365 plugin",
    )
